package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/webhooks"
)

// Config is the process configuration, read from the environment
// (12-factor) and validated once at start.
type Config struct {
	Addr              string
	DatabaseURL       string
	MigrateOnStart    bool
	ClerkJWTKey       string
	ClerkSecretKey    string
	ClerkAPIURL       string
	AuthorizedParties []string
	WebhookSecrets    []string
	AdminToken        string
	CORSOrigins       []string
	RateLimitRPS      float64
	RateLimitBurst    int
	LogLevel          slog.Level
	LogFormat         string
	OnlineWindow      time.Duration      // DEVICE_ONLINE_WINDOW
	RouteMaxSpan      time.Duration      // ROUTE_MAX_SPAN
	LocationMaxAge    time.Duration      // LOCATION_MAX_AGE
	OsmAndSpeedUnit   tracking.SpeedUnit // OSMAND_SPEED_UNIT
	StreamHeartbeat   time.Duration      // STREAM_HEARTBEAT
	StreamMaxPerUser  int                // STREAM_MAX_PER_USER
	StreamMax         int                // STREAM_MAX
	LocationRetention time.Duration      // LOCATION_RETENTION; 0 keeps points forever
	EventRetention    time.Duration      // WEBHOOK_EVENT_RETENTION
	facing                               // facing the internet (config_facing.go)
}

const defaultClerkAPIURL = "https://api.clerk.com/v1"

// LoadConfig reads and validates every variable; an error names the
// variable in one line and never echoes a secret.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{
		Addr:        ":8000",
		DatabaseURL: migrations.DefaultURL,
		ClerkAPIURL: defaultClerkAPIURL,
		LogFormat:   "json",
	}
	var errs []error
	bad := func(name string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid %s: %s", name, fmt.Sprintf(format, args...)))
	}

	if v := getenv("ADDR"); v != "" {
		cfg.Addr = v
	} else if v := getenv("PORT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > 65535 {
			bad("PORT", "want a port number, got %q", v)
		}
		cfg.Addr = ":" + v
	}

	if v := getenv("DATABASE_URL"); v != "" {
		cfg.DatabaseURL = v
	}
	if _, _, err := migrations.ParseURL(cfg.DatabaseURL); err != nil {
		bad("DATABASE_URL", "%v", err)
	}

	cfg.MigrateOnStart = true
	readBool(getenv, bad, "MIGRATE_ON_START", &cfg.MigrateOnStart)

	cfg.ClerkJWTKey = getenv("CLERK_JWT_KEY")
	if cfg.ClerkJWTKey != "" {
		if _, err := clerk.ParseJWTKey(cfg.ClerkJWTKey); err != nil {
			bad("CLERK_JWT_KEY", "%v", err)
		}
	}
	cfg.ClerkSecretKey = getenv("CLERK_SECRET_KEY")
	if v := getenv("CLERK_API_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("CLERK_API_URL", "want an http(s) URL such as %s", defaultClerkAPIURL)
		}
		cfg.ClerkAPIURL = strings.TrimRight(v, "/")
	}
	cfg.AuthorizedParties = splitList(getenv("CLERK_AUTHORIZED_PARTIES"))

	if v := getenv("CLERK_WEBHOOK_SIGNING_SECRET"); v != "" {
		secrets, err := webhooks.ParseSecrets(v)
		if err != nil {
			bad("CLERK_WEBHOOK_SIGNING_SECRET", "%v", err)
		}
		cfg.WebhookSecrets = secrets
	}
	cfg.AdminToken = getenv("ADMIN_TOKEN")
	cfg.CORSOrigins = splitList(getenv("CORS_ALLOWED_ORIGINS"))

	cfg.RateLimitRPS, cfg.RateLimitBurst = 10, 20
	if v := getenv("RATE_LIMIT_RPS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			bad("RATE_LIMIT_RPS", "want a number ≥ 0, got %q", v)
		}
		cfg.RateLimitRPS = f
	}
	if v := getenv("RATE_LIMIT_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("RATE_LIMIT_BURST", "want a whole number ≥ 0, got %q", v)
		}
		cfg.RateLimitBurst = n
	}

	if v := getenv("LOG_LEVEL"); v != "" {
		if err := cfg.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("LOG_LEVEL", "want debug, info, warn or error, got %q", v)
		}
	}
	if v := getenv("LOG_FORMAT"); v != "" {
		if v != "json" && v != "text" {
			bad("LOG_FORMAT", "want json or text, got %q", v)
		}
		cfg.LogFormat = v
	}

	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"DEVICE_ONLINE_WINDOW", &cfg.OnlineWindow, tracking.DefaultOnlineWindow},
		{"ROUTE_MAX_SPAN", &cfg.RouteMaxSpan, tracking.DefaultMaxRouteSpan},
		{"LOCATION_MAX_AGE", &cfg.LocationMaxAge, tracking.DefaultMaxAge},
		{"STREAM_HEARTBEAT", &cfg.StreamHeartbeat, httpapi.DefaultHeartbeat},
		{"WEBHOOK_EVENT_RETENTION", &cfg.EventRetention, retention.DefaultEventRetention},
	}
	for _, d := range durations {
		*d.dst = d.def
		readDuration(getenv, bad, d.name, d.dst)
	}
	if v := getenv("LOCATION_RETENTION"); v != "" { // unset keeps points forever
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			bad("LOCATION_RETENTION", "want a positive Go duration such as 2160h, or unset to keep points forever, got %q", v)
		}
		cfg.LocationRetention = dur
	}
	counts := []struct {
		name string
		dst  *int
		def  int
	}{
		{"STREAM_MAX_PER_USER", &cfg.StreamMaxPerUser, 10},
		{"STREAM_MAX", &cfg.StreamMax, 10000},
	}
	for _, c := range counts {
		*c.dst = c.def
		if v := getenv(c.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				bad(c.name, "want a whole number ≥ 1, got %q", v)
			}
			*c.dst = n
		}
	}
	unit, err := tracking.ParseSpeedUnit(getenv("OSMAND_SPEED_UNIT"))
	if err != nil {
		bad("OSMAND_SPEED_UNIT", "want kn, mps, kmh or mph, got %q", getenv("OSMAND_SPEED_UNIT"))
	}
	cfg.OsmAndSpeedUnit = unit
	cfg.facing = loadFacing(getenv, bad)
	return cfg, errors.Join(errs...)
}

// readBool sets *dst from the variable name when it is set: true or
// false, or whatever strconv.ParseBool accepts.
func readBool(getenv func(string) string, bad func(name, format string, args ...any), name string, dst *bool) {
	if v := getenv(name); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(name, "want true or false, got %q", v)
		}
		*dst = b
	}
}

// readDuration sets *dst, which holds the default, from the variable name
// when it is set: a positive Go duration.
func readDuration(getenv func(string) string, bad func(name, format string, args ...any), name string, dst *time.Duration) {
	if v := getenv(name); v != "" {
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			bad(name, "want a positive Go duration such as %s, got %q", *dst, v)
		}
		*dst = dur
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// WithEnvFile layers a .env-style file under the real environment: a
// variable set in the environment wins over the file. The file is
// ENV_FILE if set, else ./.env when it exists.
func WithEnvFile(getenv func(string) string) (func(string) string, error) {
	path := getenv("ENV_FILE")
	if path == "" {
		if _, err := os.Stat(".env"); err != nil {
			return getenv, nil
		}
		path = ".env"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("invalid ENV_FILE: %w", err)
	}
	defer f.Close()
	file := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		file[strings.TrimSpace(key)] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return file[key]
	}, nil
}

// NewLogger is the one logger of the process, at LOG_LEVEL in LOG_FORMAT.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// IngestMaxAge is the oldest point ingest accepts: LOCATION_MAX_AGE, or
// LOCATION_RETENTION when that is shorter, as such a point would be
// deleted by the next pruning pass.
func (c Config) IngestMaxAge() time.Duration {
	if c.LocationRetention > 0 && c.LocationRetention < c.LocationMaxAge {
		return c.LocationRetention
	}
	return c.LocationMaxAge
}

// Retention is the pruner's configuration, the same for serve and prune.
func (c Config) Retention() retention.Config {
	return retention.Config{
		LocationRetention: c.LocationRetention,
		EventRetention:    c.EventRetention,
		LocationMaxAge:    c.IngestMaxAge(),
	}
}

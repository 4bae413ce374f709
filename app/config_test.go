package app_test

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/tracking"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := app.LoadConfig(testkit.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8000" || cfg.DatabaseURL != "sqlite:data/usersync.db" || !cfg.MigrateOnStart ||
		cfg.ClerkAPIURL != "https://api.clerk.com/v1" || cfg.RateLimitRPS != 10 || cfg.RateLimitBurst != 20 ||
		cfg.LogFormat != "json" || cfg.OnlineWindow != 5*time.Minute || cfg.RouteMaxSpan != 744*time.Hour ||
		cfg.LocationMaxAge != 8760*time.Hour || cfg.OsmAndSpeedUnit != tracking.SpeedKnots ||
		cfg.LocationRetention != 0 || cfg.EventRetention != 2160*time.Hour {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = app.LoadConfig(testkit.Env(map[string]string{"LOCATION_RETENTION": "720h", "WEBHOOK_EVENT_RETENTION": "48h"}))
	if err != nil || cfg.LocationRetention != 720*time.Hour || cfg.EventRetention != 48*time.Hour {
		t.Errorf("retention settings = %v, %v, %v", cfg.LocationRetention, cfg.EventRetention, err)
	}
	cfg, err = app.LoadConfig(testkit.Env(map[string]string{
		"DEVICE_ONLINE_WINDOW": "90s", "ROUTE_MAX_SPAN": "48h", "LOCATION_MAX_AGE": "720h", "OSMAND_SPEED_UNIT": "kmh",
	}))
	if err != nil || cfg.OnlineWindow != 90*time.Second || cfg.RouteMaxSpan != 48*time.Hour ||
		cfg.LocationMaxAge != 720*time.Hour || cfg.OsmAndSpeedUnit != tracking.SpeedKMH {
		t.Errorf("tracking settings = %+v, %v", cfg, err)
	}
	cfg, err = app.LoadConfig(testkit.Env(map[string]string{"PORT": "9090"}))
	if err != nil || cfg.Addr != ":9090" {
		t.Errorf("PORT=9090: addr %q, %v", cfg.Addr, err)
	}
	cfg, err = app.LoadConfig(testkit.Env(map[string]string{"PORT": "9090", "ADDR": "127.0.0.1:7000"}))
	if err != nil || cfg.Addr != "127.0.0.1:7000" {
		t.Errorf("ADDR wins over PORT: addr %q, %v", cfg.Addr, err)
	}
}

// TestIngestMaxAge: a point older than LOCATION_RETENTION is refused by
// ingest rather than stored and deleted at the next pass.
func TestIngestMaxAge(t *testing.T) {
	for _, tc := range []struct {
		maxAge, keep, want time.Duration
	}{
		{8760 * time.Hour, 0, 8760 * time.Hour},
		{8760 * time.Hour, 720 * time.Hour, 720 * time.Hour},
		{720 * time.Hour, 8760 * time.Hour, 720 * time.Hour},
	} {
		cfg := app.Config{LocationMaxAge: tc.maxAge, LocationRetention: tc.keep}
		if got := cfg.IngestMaxAge(); got != tc.want {
			t.Errorf("LOCATION_MAX_AGE %v, LOCATION_RETENTION %v: ingest max age %v, want %v", tc.maxAge, tc.keep, got, tc.want)
		}
		if got := cfg.Retention().LocationMaxAge; got != tc.want {
			t.Errorf("the pruner keeps partitions for %v, want %v", got, tc.want)
		}
	}
}

func TestBareBase64JWTKeyAccepted(t *testing.T) {
	pem := testkit.NewKey(t, "ins_cfg").PublicPEM(t)
	body := strings.TrimSpace(pem)
	body = strings.TrimPrefix(body, "-----BEGIN PUBLIC KEY-----")
	body = strings.TrimSuffix(body, "-----END PUBLIC KEY-----")
	body = strings.ReplaceAll(strings.TrimSpace(body), "\n", "")
	if _, err := app.LoadConfig(testkit.Env(map[string]string{"CLERK_JWT_KEY": body})); err != nil {
		t.Errorf("bare base64 body: %v", err)
	}
	escaped := strings.ReplaceAll(pem, "\n", `\n`)
	if _, err := app.LoadConfig(testkit.Env(map[string]string{"CLERK_JWT_KEY": escaped})); err != nil {
		t.Errorf("PEM with literal \\n: %v", err)
	}
}

// TestFacingSettings: the settings of facing the internet have their
// defaults, are read, and show in the example configuration files.
func TestFacingSettings(t *testing.T) {
	cfg, err := app.LoadConfig(testkit.Env(nil))
	if err != nil {
		t.Fatal(err)
	}
	type facing struct {
		TrustedProxies                           []netip.Prefix
		RateLimitMaxBuckets, DBMaxOpenConns      int
		MaxTokenLifetime, JWKSTTL                time.Duration
		AcceptPendingSessions, RequireEmailClaim bool
	}
	of := func(c app.Config) facing {
		return facing{c.TrustedProxies, c.RateLimitMaxBuckets, c.DBMaxOpenConns, c.MaxTokenLifetime, c.JWKSTTL,
			c.AcceptPendingSessions, c.RequireEmailClaim}
	}
	want := facing{RateLimitMaxBuckets: 400_000, DBMaxOpenConns: 32, MaxTokenLifetime: 10 * time.Minute, JWKSTTL: time.Hour}
	if diff := cmp.Diff(want, of(cfg), cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	cfg, err = app.LoadConfig(testkit.Env(map[string]string{
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7, 2001:db8::/32", "RATE_LIMIT_MAX_BUCKETS": "5000",
		"DB_MAX_OPEN_CONNS": "8", "CLERK_MAX_TOKEN_LIFETIME": "90s", "CLERK_ACCEPT_PENDING_SESSIONS": "true",
		"CLERK_REQUIRE_EMAIL_CLAIM": "true", "CLERK_JWKS_TTL": "15m", "ADMIN_TOKEN": strings.Repeat("a", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	want = facing{
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("2001:db8::/32"),
		},
		RateLimitMaxBuckets: 5000, DBMaxOpenConns: 8, MaxTokenLifetime: 90 * time.Second,
		AcceptPendingSessions: true, RequireEmailClaim: true, JWKSTTL: 15 * time.Minute,
	}
	if diff := cmp.Diff(want, of(cfg), cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	for token, ok := range map[string]bool{strings.Repeat("x", 31): false, strings.Repeat("x", 32): true} {
		if _, err := app.LoadConfig(testkit.Env(map[string]string{"ADMIN_TOKEN": token})); (err == nil) != ok {
			t.Errorf("ADMIN_TOKEN of %d characters: %v, want accepted = %v", len(token), err, ok)
		}
	}

	var configs []byte
	for _, name := range []string{"local.env", "compose.env"} {
		b, err := os.ReadFile("../configs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, b...)
	}
	for _, name := range []string{
		"TRUSTED_PROXIES", "RATE_LIMIT_MAX_BUCKETS", "DB_MAX_OPEN_CONNS", "CLERK_MAX_TOKEN_LIFETIME",
		"CLERK_ACCEPT_PENDING_SESSIONS", "CLERK_REQUIRE_EMAIL_CLAIM", "CLERK_JWKS_TTL",
	} {
		if !regexp.MustCompile("(?m)^#? ?" + name + "=").Match(configs) {
			t.Errorf("configs/*.env do not show %s", name)
		}
	}
}

package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/tracking"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(envFrom(nil))
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
	cfg, err = loadConfig(envFrom(map[string]string{"LOCATION_RETENTION": "720h", "WEBHOOK_EVENT_RETENTION": "48h"}))
	if err != nil || cfg.LocationRetention != 720*time.Hour || cfg.EventRetention != 48*time.Hour {
		t.Errorf("retention settings = %v, %v, %v", cfg.LocationRetention, cfg.EventRetention, err)
	}
	cfg, err = loadConfig(envFrom(map[string]string{
		"DEVICE_ONLINE_WINDOW": "90s", "ROUTE_MAX_SPAN": "48h", "LOCATION_MAX_AGE": "720h", "OSMAND_SPEED_UNIT": "kmh",
	}))
	if err != nil || cfg.OnlineWindow != 90*time.Second || cfg.RouteMaxSpan != 48*time.Hour ||
		cfg.LocationMaxAge != 720*time.Hour || cfg.OsmAndSpeedUnit != tracking.SpeedKMH {
		t.Errorf("tracking settings = %+v, %v", cfg, err)
	}
	cfg, err = loadConfig(envFrom(map[string]string{"PORT": "9090"}))
	if err != nil || cfg.Addr != ":9090" {
		t.Errorf("PORT=9090: addr %q, %v", cfg.Addr, err)
	}
	cfg, err = loadConfig(envFrom(map[string]string{"PORT": "9090", "ADDR": "127.0.0.1:7000"}))
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
		cfg := config{LocationMaxAge: tc.maxAge, LocationRetention: tc.keep}
		if got := ingestMaxAge(cfg); got != tc.want {
			t.Errorf("LOCATION_MAX_AGE %v, LOCATION_RETENTION %v: ingest max age %v, want %v", tc.maxAge, tc.keep, got, tc.want)
		}
		if got := pruneConfig(cfg).LocationMaxAge; got != tc.want {
			t.Errorf("the pruner keeps partitions for %v, want %v", got, tc.want)
		}
	}
}

// TestInvalidSettingStopsStart: a present but invalid setting stops the
// process with one line naming the variable, and never echoes a secret.
func TestInvalidSettingStopsStart(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"CLERK_JWT_KEY", "not-a-pem-at-all"},
		{"CLERK_JWT_KEY", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"},
		{"CLERK_WEBHOOK_SIGNING_SECRET", "secret_without_prefix"},
		{"CLERK_WEBHOOK_SIGNING_SECRET", "whsec_c2hvcnQ="},
		{"DATABASE_URL", "mysql://root@localhost/db"},
		{"DATABASE_URL", "postgres://u:hunter2@host:notaport/db"},
		{"MIGRATE_ON_START", "perhaps"},
		{"RATE_LIMIT_RPS", "fast"},
		{"RATE_LIMIT_BURST", "-1"},
		{"PORT", "eighty"},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "xml"},
		{"CLERK_API_URL", "ftp://api.clerk.com"},
		{"DEVICE_ONLINE_WINDOW", "5 minutes"},
		{"DEVICE_ONLINE_WINDOW", "0s"},
		{"ROUTE_MAX_SPAN", "31d"},
		{"ROUTE_MAX_SPAN", "-1h"},
		{"LOCATION_MAX_AGE", "forever"},
		{"OSMAND_SPEED_UNIT", "knots"},
		{"LOCATION_RETENTION", "90d"},
		{"LOCATION_RETENTION", "0s"},
		{"LOCATION_RETENTION", "-720h"},
		{"WEBHOOK_EVENT_RETENTION", "never"},
		{"WEBHOOK_EVENT_RETENTION", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(context.Background(), []string{"serve"}, envFrom(map[string]string{tc.name: tc.value}), io.Discard, &stderr)
			if err == nil {
				t.Fatalf("%s=%q: serve started", tc.name, tc.value)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.name) {
				t.Errorf("error %q does not name %s", msg, tc.name)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg, "hunter2") || (strings.HasPrefix(tc.name, "CLERK_WEBHOOK") && strings.Contains(msg, tc.value)) {
				t.Errorf("error echoes a secret: %q", msg)
			}
		})
	}
}

func TestBareBase64JWTKeyAccepted(t *testing.T) {
	key := newTestKey(t)
	body := strings.TrimSpace(key.pem)
	body = strings.TrimPrefix(body, "-----BEGIN PUBLIC KEY-----")
	body = strings.TrimSuffix(body, "-----END PUBLIC KEY-----")
	body = strings.ReplaceAll(strings.TrimSpace(body), "\n", "")
	if _, err := loadConfig(envFrom(map[string]string{"CLERK_JWT_KEY": body})); err != nil {
		t.Errorf("bare base64 body: %v", err)
	}
	escaped := strings.ReplaceAll(key.pem, "\n", `\n`)
	if _, err := loadConfig(envFrom(map[string]string{"CLERK_JWT_KEY": escaped})); err != nil {
		t.Errorf("PEM with literal \\n: %v", err)
	}
}

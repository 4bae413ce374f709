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
		cfg.LocationMaxAge != 8760*time.Hour || cfg.OsmAndSpeedUnit != tracking.SpeedKnots {
		t.Errorf("defaults = %+v", cfg)
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

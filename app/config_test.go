package app_test

import (
	"strings"
	"testing"
	"time"

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

package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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
		{"ADMIN_TOKEN", "Zq7"},
		{"ADMIN_TOKEN", "hunter2-is-31-characters-long.."},
		{"CLERK_JWT_KEY", ecPublicKeyPEM},
		{"TRUSTED_PROXIES", "10.0.0.0/8, the load balancer"},
		{"TRUSTED_PROXIES", "10.0.0.0/33"},
		{"RATE_LIMIT_MAX_BUCKETS", "0"},
		{"RATE_LIMIT_MAX_BUCKETS", "many"},
		{"DB_MAX_OPEN_CONNS", "0"},
		{"DB_MAX_OPEN_CONNS", "32.5"},
		{"CLERK_MAX_TOKEN_LIFETIME", "10"},
		{"CLERK_MAX_TOKEN_LIFETIME", "-1m"},
		{"CLERK_ACCEPT_PENDING_SESSIONS", "sometimes"},
		{"CLERK_REQUIRE_EMAIL_CLAIM", "yes please"},
		{"CLERK_JWKS_TTL", "0s"},
		{"CLERK_JWKS_TTL", "an hour"},
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
			if strings.Contains(msg, "hunter2") || (strings.HasPrefix(tc.name, "CLERK_WEBHOOK") && strings.Contains(msg, tc.value)) ||
				(tc.name == "ADMIN_TOKEN" && strings.Contains(msg, tc.value)) {
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

// ecPublicKeyPEM is a P-256 public key: a valid PEM public key, but not the
// RSA key Clerk signs session tokens with.
const ecPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgP1+5d43Q70BYE1Qz9TxTx6cBhWZ
o1pwIjFQTP19evZRtcJM8FRSO51tIxlii3QOj9M/7VHt/aqlaiyG1SzBrg==
-----END PUBLIC KEY-----`

// TestFacingSettings: the settings of facing the internet have their
// defaults, are read, and are documented where an operator looks.
func TestFacingSettings(t *testing.T) {
	cfg, err := loadConfig(envFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := facing{
		RateLimitMaxBuckets: 400_000, DBMaxOpenConns: 32,
		MaxTokenLifetime: 10 * time.Minute, JWKSTTL: time.Hour,
	}
	if diff := cmp.Diff(want, cfg.facing, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	cfg, err = loadConfig(envFrom(map[string]string{
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
	if diff := cmp.Diff(want, cfg.facing, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}

	for token, ok := range map[string]bool{strings.Repeat("x", 31): false, strings.Repeat("x", 32): true} {
		if _, err := loadConfig(envFrom(map[string]string{"ADMIN_TOKEN": token})); (err == nil) != ok {
			t.Errorf("ADMIN_TOKEN of %d characters: %v, want accepted = %v", len(token), err, ok)
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var configs []byte
	for _, name := range []string{"local.env", "compose.env"} {
		b, err := os.ReadFile("../../configs/" + name)
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, b...)
	}
	for _, name := range []string{
		"TRUSTED_PROXIES", "RATE_LIMIT_MAX_BUCKETS", "DB_MAX_OPEN_CONNS", "CLERK_MAX_TOKEN_LIFETIME",
		"CLERK_ACCEPT_PENDING_SESSIONS", "CLERK_REQUIRE_EMAIL_CLAIM", "CLERK_JWKS_TTL",
	} {
		if !regexp.MustCompile("(?m)^\\| `" + name + "`").Match(readme) {
			t.Errorf("README's settings table has no row for %s", name)
		}
		if !regexp.MustCompile("(?m)^#? ?" + name + "=").Match(configs) {
			t.Errorf("configs/*.env do not show %s", name)
		}
	}
}

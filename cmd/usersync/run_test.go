package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

// TestServeEndToEnd runs the binary's run function on each database,
// syncs a user and delivers a webhook over real HTTP, finds both counted
// in /metrics (serve wires the services' observers), follows a device
// with the tracking settings set (they reach the service), and shuts it
// down cleanly; neither the session token nor the device's token reaches
// the debug logs.
func TestServeEndToEnd(t *testing.T) {
	key := testkit.NewKey(t, "ins_test")
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		base, stop, logs := startServer(t, map[string]string{
			"ADDR":                         "127.0.0.1:0",
			"DATABASE_URL":                 databaseURL,
			"CLERK_JWT_KEY":                key.PublicPEM(t),
			"CLERK_WEBHOOK_SIGNING_SECRET": testWebhookSecret,
			"OSMAND_SPEED_UNIT":            "kmh",
			"DEVICE_ONLINE_WINDOW":         "1h",
			"LOG_LEVEL":                    "debug",
		})

		for _, path := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
			}
		}

		token := key.TokenAt(t, "user_e2e", time.Now().Add(-time.Second))
		body := `{"clerk_user_id":"user_e2e","email":"e2e@example.com","name":"End To End"}`
		req, _ := http.NewRequest(http.MethodPost, base+"/api/auth/sync", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("sync = %d %v", resp.StatusCode, got)
		}
		if got["clerk_user_id"] != "user_e2e" || got["email"] != "e2e@example.com" || got["name"] != "End To End" {
			t.Errorf("sync body = %v", got)
		}

		hook := testkit.UserEvent("user.updated", "user_e2e_hook", "hook@example.com", "Hook", "", time.Now())
		resp, err = http.DefaultClient.Do(signedWebhook(t, base, "msg_e2e", hook))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("webhook = %d", resp.StatusCode)
		}
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`user_upserts_total{outcome="created",writer="sync"} 1`,
			`user_upserts_total{outcome="created",writer="webhook"} 1`,
			`webhook_deliveries_total{outcome="applied",type="user.updated"} 1`,
			`http_requests_total{method="POST",route="/api/auth/sync",status="200"} 1`,
			`go_sql_open_connections{db_name="usersync"}`,
		} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}

		ingestToken := followDevice(t, base, key)

		if err := stop(); err != nil {
			t.Fatalf("serve returned %v after cancel", err)
		}
		if strings.Contains(logs.String(), token) {
			t.Error("the session token reached a log line")
		}
		if strings.Contains(logs.String(), ingestToken) {
			t.Error("the device token reached a log line")
		}
		if !strings.Contains(logs.String(), `"msg":"stopped"`) {
			t.Errorf("no clean stop in the logs:\n%s", logs)
		}
	})
}

// followDevice follows a device from registration to its latest fix over
// real HTTP, as the app and a tracker do, with the server's settings
// OSMAND_SPEED_UNIT=kmh (36 becomes 10 m/s) and DEVICE_ONLINE_WINDOW=1h.
// It returns the device's ingest token.
func followDevice(t *testing.T, base string, key *testkit.Key) string {
	t.Helper()
	session := key.TokenAt(t, "user_map", time.Now().Add(-time.Second))
	c := appClient{t: t, base: base}
	c.do(http.MethodPost, "/api/devices", session, `{"name":"Bella"}`, http.StatusConflict) // before the first sync
	c.do(http.MethodPost, "/api/auth/sync", session, `{"clerk_user_id":"user_map","email":"map@example.com"}`, http.StatusOK)
	var created struct {
		Device struct {
			ID int64 `json:"id"`
		} `json:"device"`
		IngestToken string `json:"ingest_token"`
	}
	if body := c.do(http.MethodPost, "/api/devices", session, `{"name":"Bella"}`, http.StatusCreated); json.Unmarshal(body, &created) != nil {
		t.Fatalf("create = %s", body)
	}

	at := time.Now().Add(-time.Minute).Unix()
	q := fmt.Sprintf("/api/ingest/osmand?id=%s&lat=52.52&lon=13.4&speed=36&timestamp=%d", created.IngestToken, at)
	if body := c.do(http.MethodGet, q, "", "", http.StatusOK); len(body) != 0 {
		t.Fatalf("osmand answered %q, want no body", body)
	}

	body := c.do(http.MethodGet, "/api/devices/"+strconv.FormatInt(created.Device.ID, 10), session, "", http.StatusOK)
	var dev struct {
		Status       string `json:"status"`
		LastLocation struct {
			RecordedAt time.Time `json:"recorded_at"`
			SpeedMPS   float64   `json:"speed_mps"`
		} `json:"last_location"`
	}
	if err := json.Unmarshal(body, &dev); err != nil {
		t.Fatalf("device = %s", body)
	}
	if dev.Status != "online" || dev.LastLocation.SpeedMPS != 10 || dev.LastLocation.RecordedAt.Unix() != at {
		t.Errorf("device = %s, want online with 36 km/h as 10 m/s", body)
	}
	return created.IngestToken
}

func TestMigrateCommand(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		env := map[string]string{"DATABASE_URL": databaseURL}
		for _, step := range []struct{ action, want string }{
			{"status", "pending"},
			{"up", "applied 20261127000001"},
			{"status", "applied (group 1)"},
			{"up", "nothing to apply"},
			{"down", "rolled back 20261127000001"},
			{"status", "pending"},
		} {
			out, _, err := runUsersync(t, env, "migrate", step.action)
			if err != nil {
				t.Fatalf("migrate %s: %v", step.action, err)
			}
			if !strings.Contains(out, step.want) {
				t.Errorf("migrate %s printed %q, want it to contain %q", step.action, out, step.want)
			}
		}
		// One action, known: none, two, or an unknown one is an error.
		for _, args := range [][]string{{"sideways"}, {}, {"up", "down"}} {
			if _, _, err := runUsersync(t, env, append([]string{"migrate"}, args...)...); err == nil {
				t.Errorf("migrate %q: no error", args)
			}
		}
	})
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"serve", "-h"}, {"migrate", "-h"}, {"events", "--help"}, {"dev", "-help"}} {
		out, _, err := runUsersync(t, nil, args...)
		if err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if out == "" {
			t.Errorf("%v printed nothing", args)
		}
	}
	if _, _, err := runUsersync(t, nil, "frobnicate"); err == nil {
		t.Error("unknown command: no error")
	}
}

// TestHelpListsFlags: a command's -h prints its flags and their defaults
// after its synopsis, on stdout, and touches no database.
func TestHelpListsFlags(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "sqlite:" + t.TempDir() + "/never/opened.db"}
	for _, tc := range []struct {
		args []string
		want string // a flag's usage, which only the flag list prints
	}{
		{[]string{"prune", "-h"}, "report what would be removed, remove nothing"},
		{[]string{"backfill", "-h"}, "report what would change, write nothing"},
		{[]string{"healthcheck", "-h"}, "URL to check"},
		{[]string{"events", "list", "-h"}, "at most this many events, newest first (default 50)"},
		{[]string{"events", "replay", "-h"}, "list what would be replayed, change nothing"},
	} {
		out, _, err := runUsersync(t, env, tc.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v, printed %q; want exit 0 and %q", tc.args, err, out, tc.want)
		}
	}
}

// TestCommandsMigrateAFreshDatabase: zero setup holds for every command,
// not only serve; MIGRATE_ON_START=false leaves the schema alone.
func TestCommandsMigrateAFreshDatabase(t *testing.T) {
	databaseURL := dbtest.SQLiteURL(t)
	env := map[string]string{"DATABASE_URL": databaseURL, "MIGRATE_ON_START": "false"}
	if _, _, err := runUsersync(t, env, "events", "list"); err == nil {
		t.Fatal("events list on an unmigrated database with MIGRATE_ON_START=false: no error")
	}
	delete(env, "MIGRATE_ON_START")
	out, _, err := runUsersync(t, env, "events", "list")
	if err != nil {
		t.Fatalf("events list on a fresh database: %v", err)
	}
	if !strings.Contains(out, "SVIX ID") {
		t.Errorf("events list printed %q", out)
	}
}

// TestZeroSetupDefault: with no configuration at all, serve creates the
// SQLite file under ./data/, applies migrations and answers.
func TestZeroSetupDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	base, stop, _ := startServer(t, map[string]string{"ADDR": "127.0.0.1:0"})
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("data/usersync.db"); err != nil {
		t.Errorf("no database under ./data/: %v", err)
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
		{"STREAM_HEARTBEAT", "often"},
		{"STREAM_MAX_PER_USER", "0"},
		{"STREAM_MAX", "lots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A setting wrongly accepted starts the server: it fails the
			// test when the context ends, rather than hanging it, and works
			// on a database of its own.
			env := map[string]string{"DATABASE_URL": "sqlite:" + t.TempDir() + "/usersync.db"}
			env[tc.name] = tc.value
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, testkit.Env(env), io.Discard, io.Discard)
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

// ecPublicKeyPEM is a P-256 public key: a valid PEM public key, but not the
// RSA key Clerk signs session tokens with.
const ecPublicKeyPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEgP1+5d43Q70BYE1Qz9TxTx6cBhWZ
o1pwIjFQTP19evZRtcJM8FRSO51tIxlii3QOj9M/7VHt/aqlaiyG1SzBrg==
-----END PUBLIC KEY-----`

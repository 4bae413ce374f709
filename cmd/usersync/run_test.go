package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"

	"github.com/usersync/usersync/migrations/dbtest"
)

// lockedBuffer is an io.Writer that tests may read while run writes to it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// testKey is an RSA key pair with the public half as CLERK_JWT_KEY wants it.
type testKey struct {
	private *rsa.PrivateKey
	pem     string
}

func newTestKey(t *testing.T) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{private: k, pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

func (k testKey) token(t *testing.T, sub string, iat time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "ins_test"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:    "https://clerk.example.com",
		Subject:   sub,
		IssuedAt:  jwt.NewNumericDate(iat),
		NotBefore: jwt.NewNumericDate(iat),
		Expiry:    jwt.NewNumericDate(iat.Add(10 * time.Minute)),
	}).Claims(map[string]any{"sid": "sess_test"}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startServer runs `usersync serve` in the background and returns its
// base URL and a stop function that cancels it and returns run's error.
func startServer(t *testing.T, env map[string]string) (string, func() error, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFrom(env), io.Discard, stderr) }()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, stderr)
		default:
		}
		if addr := listeningAddr(stderr.String()); addr != "" {
			stop := func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(30 * time.Second):
					return fmt.Errorf("serve did not stop")
				}
			}
			return "http://" + addr, stop, stderr
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	t.Fatalf("serve did not start listening:\n%s", stderr)
	return "", nil, nil
}

func listeningAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			return line.Addr
		}
	}
	return ""
}

// TestServeEndToEnd runs the binary's run function on each database,
// syncs a user over real HTTP, and shuts it down cleanly.
func TestServeEndToEnd(t *testing.T) {
	key := newTestKey(t)
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		base, stop, logs := startServer(t, map[string]string{
			"ADDR":          "127.0.0.1:0",
			"DATABASE_URL":  databaseURL,
			"CLERK_JWT_KEY": key.pem,
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

		token := key.token(t, "user_e2e", time.Now().Add(-time.Second))
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

		if err := stop(); err != nil {
			t.Fatalf("serve returned %v after cancel", err)
		}
		if strings.Contains(logs.String(), token) {
			t.Error("the session token reached a log line")
		}
		if !strings.Contains(logs.String(), `"msg":"stopped"`) {
			t.Errorf("no clean stop in the logs:\n%s", logs)
		}
	})
}

func TestMigrateCommand(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		env := envFrom(map[string]string{"DATABASE_URL": databaseURL})
		ctx := context.Background()
		var out bytes.Buffer
		for _, step := range []struct{ action, want string }{
			{"status", "pending"},
			{"up", "applied 20261127000001"},
			{"status", "applied (group 1)"},
			{"up", "nothing to apply"},
			{"down", "rolled back 20261127000001"},
			{"status", "pending"},
		} {
			out.Reset()
			if err := run(ctx, []string{"migrate", step.action}, env, &out, io.Discard); err != nil {
				t.Fatalf("migrate %s: %v", step.action, err)
			}
			if !strings.Contains(out.String(), step.want) {
				t.Errorf("migrate %s printed %q, want it to contain %q", step.action, out.String(), step.want)
			}
		}
		if err := run(ctx, []string{"migrate", "sideways"}, env, io.Discard, io.Discard); err == nil {
			t.Error("migrate sideways: no error")
		}
	})
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"serve", "-h"}, {"migrate", "-h"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, envFrom(nil), &out, io.Discard); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if out.Len() == 0 {
			t.Errorf("%v printed nothing", args)
		}
	}
	if err := run(context.Background(), []string{"frobnicate"}, envFrom(nil), io.Discard, io.Discard); err == nil {
		t.Error("unknown command: no error")
	}
}

// TestCommandsMigrateAFreshDatabase: zero setup holds for every command,
// not only serve; MIGRATE_ON_START=false leaves the schema alone.
func TestCommandsMigrateAFreshDatabase(t *testing.T) {
	databaseURL := dbtest.SQLiteURL(t)
	var out bytes.Buffer
	env := map[string]string{"DATABASE_URL": databaseURL, "MIGRATE_ON_START": "false"}
	if err := run(context.Background(), []string{"events", "list"}, envFrom(env), &out, io.Discard); err == nil {
		t.Fatal("events list on an unmigrated database with MIGRATE_ON_START=false: no error")
	}
	delete(env, "MIGRATE_ON_START")
	if err := run(context.Background(), []string{"events", "list"}, envFrom(env), &out, io.Discard); err != nil {
		t.Fatalf("events list on a fresh database: %v", err)
	}
	if !strings.Contains(out.String(), "SVIX ID") {
		t.Errorf("events list printed %q", out.String())
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

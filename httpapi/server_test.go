package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	srv := startServer(t, sqliteDB(t), nil)

	tests := []struct {
		method, path string
		status       int
		msg          string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "not found"},
		{http.MethodPost, "/api/auth/sync/extra", http.StatusNotFound, "not found"},
		{http.MethodGet, "/api/auth/sync", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodPut, "/api/auth/sync", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method not allowed"},
		{http.MethodDelete, "/readyz", http.StatusMethodNotAllowed, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			res := srv.send(t, srv.newRequest(t, tt.method, tt.path, ""))
			wantError(t, res, tt.status, tt.msg)
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	eachServer(t, nil, func(t *testing.T, srv *testServer) {
		wantBody(t, srv.get(t, "/healthz"), http.StatusOK, map[string]any{"status": "ok"})
		wantBody(t, srv.get(t, "/readyz"), http.StatusOK, map[string]any{"status": "ready"})

		if err := srv.db.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		// SQLite may answer from its last check for up to a second.
		var res response
		testkit.Eventually(t, 5*time.Second, "/readyz with the database closed", func() bool {
			res = srv.get(t, "/readyz")
			return res.status != http.StatusOK
		})
		wantError(t, res, http.StatusServiceUnavailable, "database is unavailable")
		// Liveness does not depend on the database.
		wantBody(t, srv.get(t, "/healthz"), http.StatusOK, map[string]any{"status": "ok"})
	})
}

// TestReadyzSQLiteLeavesNothing: on SQLite the readiness check commits a
// write (a ping cannot tell a file that no longer takes writes); it must
// leave user_version as it was and, once checkpointed, the file unchanged.
func TestReadyzSQLiteLeavesNothing(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.SQLiteURL(t)
	db := dbtest.Open(t, databaseURL)
	_, path, err := migrations.ParseURL(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 42"); err != nil {
		t.Fatal(err)
	}
	checkpointed := func() []byte {
		t.Helper()
		if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := checkpointed()

	srv := startServer(t, db, nil)
	for range 50 {
		wantBody(t, srv.get(t, "/readyz"), http.StatusOK, map[string]any{"status": "ready"})
	}

	if after := checkpointed(); !bytes.Equal(before, after) {
		t.Errorf("50 readiness checks changed the database file (%d bytes, then %d)", len(before), len(after))
	}
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 42 {
		t.Errorf("user_version = %d after the readiness checks, want 42 as before", version)
	}
}

var generatedRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_test")
	srv := startServer(t, sqliteDB(t), jwtKeyEnv(t, key))
	unconfigured := startServer(t, sqliteDB(t), nil)

	// Each request answers with a different status: the id is on all of them.
	requests := []struct {
		name   string
		srv    *testServer
		method string
		path   string
		token  string
		body   string
		status int
	}{
		{"200 sync", srv, http.MethodPost, "/api/auth/sync", key.Sign(t, testkit.SessionClaims("user_rid")),
			syncBody("user_rid", "rid@example.com", ""), http.StatusOK},
		{"200 healthz", srv, http.MethodGet, "/healthz", "", "", http.StatusOK},
		{"400 sync", srv, http.MethodPost, "/api/auth/sync", key.Sign(t, testkit.SessionClaims("user_rid")), `{`, http.StatusBadRequest},
		{"401 sync", srv, http.MethodPost, "/api/auth/sync", "", syncBody("user_rid", "rid@example.com", ""), http.StatusUnauthorized},
		{"403 sync", srv, http.MethodPost, "/api/auth/sync", key.Sign(t, testkit.SessionClaims("user_other")),
			syncBody("user_rid", "rid@example.com", ""), http.StatusForbidden},
		{"404", srv, http.MethodGet, "/nope", "", "", http.StatusNotFound},
		{"405", srv, http.MethodGet, "/api/auth/sync", "", "", http.StatusMethodNotAllowed},
		{"503 sync", unconfigured, http.MethodPost, "/api/auth/sync", "", syncBody("user_rid", "rid@example.com", ""),
			http.StatusServiceUnavailable},
	}
	send := func(t *testing.T, i int, requestID string, set bool) response {
		t.Helper()
		r := requests[i]
		req := r.srv.newRequest(t, r.method, r.path, r.body)
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		if set {
			req.Header.Set("X-Request-Id", requestID)
		}
		res := r.srv.send(t, req)
		if res.status != r.status {
			t.Errorf("status = %d, want %d; body %s", res.status, r.status, res.body)
		}
		wantJSONResponse(t, res)
		return res
	}

	for i, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			for _, id := range []string{"abc", "req-123_ABC.xyz", "7", strings.Repeat("a", 128)} {
				if got := send(t, i, id, true).header.Get("X-Request-Id"); got != id {
					t.Errorf("valid X-Request-Id %q answered with %q, want it echoed", id, got)
				}
			}
			for _, id := range []string{
				strings.Repeat("a", 129), "bad id", "a/b", "id:1", "é", "<script>", "a\tb", "",
			} {
				got := send(t, i, id, true).header.Get("X-Request-Id")
				if got == id || !generatedRequestID.MatchString(got) {
					t.Errorf("invalid X-Request-Id %q answered with %q, want a new id", id, got)
				}
			}
			first := send(t, i, "", false).header.Get("X-Request-Id")
			second := send(t, i, "", false).header.Get("X-Request-Id")
			if !generatedRequestID.MatchString(first) || !generatedRequestID.MatchString(second) || first == second {
				t.Errorf("without X-Request-Id got %q then %q, want two new distinct ids", first, second)
			}
		})
	}
}

// logLine is an access log line.
type logLine struct {
	Msg       string  `json:"msg"`
	Level     string  `json:"level"`
	RequestID string  `json:"request_id"`
	Method    string  `json:"method"`
	Route     string  `json:"route"`
	Status    int     `json:"status"`
	Bytes     int64   `json:"bytes"`
	Duration  float64 `json:"duration_ms"`
}

// accessLog waits for the access log line of requestID; the server
// writes it as the handler returns.
func (s *testServer) accessLog(t *testing.T, requestID string) logLine {
	t.Helper()
	var line logLine
	testkit.Eventually(t, 5*time.Second, "access log line of request "+requestID, func() bool {
		sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
		for sc.Scan() {
			var l logLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
			}
			if l.Msg == "request" && l.RequestID == requestID {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_test")
	other := testkit.NewKey(t, "ins_test")
	srv := startServer(t, sqliteDB(t), jwtKeyEnv(t, key, appOrigin))

	good := key.Sign(t, testkit.SessionClaims("user_log").With("email", "log@example.com"))
	tokens := []string{good}
	sign := func(k *testkit.Key, c testkit.Claims) string {
		tok := k.Sign(t, c)
		tokens = append(tokens, tok)
		return tok
	}
	tests := []struct {
		name   string
		method string
		path   string
		token  string
		body   string
		want   logLine
	}{
		{"200", http.MethodPost, "/api/auth/sync", good, syncBody("user_log", "log@example.com", "Log"),
			logLine{Method: "POST", Route: "/api/auth/sync", Status: 200}},
		{"401 wrong key", http.MethodPost, "/api/auth/sync", sign(other, testkit.SessionClaims("user_log")),
			syncBody("user_log", "log@example.com", ""), logLine{Method: "POST", Route: "/api/auth/sync", Status: 401}},
		{"401 wrong issuer", http.MethodPost, "/api/auth/sync",
			sign(key, testkit.SessionClaims("user_log").With("iss", "https://evil.example.com")),
			syncBody("user_log", "log@example.com", ""), logLine{Method: "POST", Route: "/api/auth/sync", Status: 401}},
		{"401 azp", http.MethodPost, "/api/auth/sync",
			sign(key, testkit.SessionClaims("user_log").With("azp", "https://evil.example.com")),
			syncBody("user_log", "log@example.com", ""), logLine{Method: "POST", Route: "/api/auth/sync", Status: 401}},
		{"401 expired", http.MethodPost, "/api/auth/sync",
			sign(key, testkit.SessionClaims("user_log").With("exp", time.Now().Add(-time.Minute))),
			syncBody("user_log", "log@example.com", ""), logLine{Method: "POST", Route: "/api/auth/sync", Status: 401}},
		{"403", http.MethodPost, "/api/auth/sync", sign(key, testkit.SessionClaims("user_other")),
			syncBody("user_log", "log@example.com", ""), logLine{Method: "POST", Route: "/api/auth/sync", Status: 403}},
		{"400", http.MethodPost, "/api/auth/sync", sign(key, testkit.SessionClaims("user_log")), `{"clerk_user_id":`,
			logLine{Method: "POST", Route: "/api/auth/sync", Status: 400}},
		{"404 with a token in the path", http.MethodGet, "/api/users/" + good, good, "",
			logLine{Method: "GET", Route: "unmatched", Status: 404}},
		{"healthz", http.MethodGet, "/healthz", "", "", logLine{Method: "GET", Route: "/healthz", Status: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := srv.newRequest(t, tt.method, tt.path, tt.body)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			res := srv.send(t, req)
			got := srv.accessLog(t, res.header.Get("X-Request-Id"))
			if got.Level != "INFO" || got.Bytes != int64(len(res.body)) || got.Duration < 0 {
				t.Errorf("access log line = %+v, want level INFO, %d bytes", got, len(res.body))
			}
			want := tt.want
			want.Msg, want.RequestID = "request", res.header.Get("X-Request-Id")
			if diff := cmp.Diff(want, got, cmpIgnoreLogMeasures); diff != "" {
				t.Errorf("access log line mismatch (-want +got):\n%s", diff)
			}
		})
	}

	logs := srv.logs.String()
	for i, tok := range tokens {
		header, payload, signature := splitToken(t, tok)
		for _, part := range []string{tok, header + "." + payload, payload, signature} {
			if strings.Contains(logs, part) {
				t.Errorf("the log holds (part of) token %d: %q", i, part)
			}
		}
	}
	if strings.Contains(strings.ToLower(logs), "bearer") {
		t.Errorf("the log mentions the Authorization header:\n%s", logs)
	}
	if strings.Contains(logs, "/api/users/") {
		t.Errorf("the log holds a raw path:\n%s", logs)
	}
}

var cmpIgnoreLogMeasures = cmpopts.IgnoreFields(logLine{}, "Level", "Bytes", "Duration")

func splitToken(t *testing.T, tok string) (header, payload, signature string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", tok, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

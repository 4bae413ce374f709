package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
)

// lockedBuffer is an io.Writer that a test may read while the server writes.
type lockedBuffer = testkit.LockedBuffer

// testServer is the real service, assembled as serve assembles it, over a
// real, migrated database.
type testServer struct {
	*testkit.Server
	db    *bun.DB
	users *users.Service
	logs  *lockedBuffer // the JSON log at debug level
}

// startServer serves the service on db with the settings env (nil: no
// Clerk key configured). The server's log is shown when the test fails.
func startServer(t *testing.T, db *bun.DB, env map[string]string) *testServer {
	t.Helper()
	srv := testkit.Start(t, db, env)
	return &testServer{Server: srv, db: db, users: srv.App.Users, logs: srv.Logs}
}

// eachKeyedServer runs fn in parallel on each database against a server
// whose sessions are signed by key, a key of the test's.
func eachKeyedServer(t *testing.T, fn func(t *testing.T, srv *testServer, key *testkit.Key)) {
	t.Helper()
	key := testkit.NewKey(t, "ins_test")
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		fn(t, startServer(t, db, jwtKeyEnv(t, key)), key)
	})
}

// sqliteDB is a fresh SQLite database for tests in which the database
// plays no part of what is tested (token checks, headers).
func sqliteDB(t *testing.T) *bun.DB {
	t.Helper()
	return dbtest.Open(t, dbtest.SQLiteURL(t))
}

// jwtKeyEnv has tokens verified networklessly against key (CLERK_JWT_KEY),
// with the authorized parties given (CLERK_AUTHORIZED_PARTIES).
func jwtKeyEnv(t *testing.T, key *testkit.Key, parties ...string) map[string]string {
	t.Helper()
	return map[string]string{"CLERK_JWT_KEY": key.PublicPEM(t), "CLERK_AUTHORIZED_PARTIES": strings.Join(parties, ",")}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *testServer) newRequest(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (s *testServer) send(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

func (s *testServer) get(t *testing.T, path string) response {
	t.Helper()
	return s.send(t, s.newRequest(t, http.MethodGet, path, ""))
}

// sync posts body to /api/auth/sync with "Authorization: Bearer token",
// or without an Authorization header when token is empty.
func (s *testServer) sync(t *testing.T, token, body string) response {
	t.Helper()
	req := s.newRequest(t, http.MethodPost, "/api/auth/sync", body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.send(t, req)
}

// wantNoUser fails unless nothing at all is stored for clerkUserID.
func (s *testServer) wantNoUser(t *testing.T, clerkUserID string) {
	t.Helper()
	var n int
	err := s.db.NewSelect().Model((*users.User)(nil)).Where("clerk_user_id = ?", clerkUserID).
		ColumnExpr("count(*)").Scan(context.Background(), &n)
	if err != nil {
		t.Fatalf("count users: %v", err)
	}
	if n != 0 {
		t.Errorf("%d rows stored for %s, want none", n, clerkUserID)
	}
}

// wantJSONResponse checks what every response carries: the JSON content
// type and a request id.
func wantJSONResponse(t *testing.T, res response) {
	t.Helper()
	if got, want := res.header.Get("Content-Type"), "application/json; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if res.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id header")
	}
}

// errorBody decodes an error response, which must have exactly one key.
func errorBody(t *testing.T, res response) string {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", res.body, err)
	}
	msg, ok := body["error"].(string)
	if len(body) != 1 || !ok || msg == "" {
		t.Fatalf("error body = %s, want exactly one non-empty string key \"error\"", res.body)
	}
	return msg
}

// wantError checks an error response's status and exact message.
func wantError(t *testing.T, res response, status int, msg string) {
	t.Helper()
	if res.status != status {
		t.Errorf("status = %d, want %d; body %s", res.status, status, res.body)
	}
	wantJSONResponse(t, res)
	if got := errorBody(t, res); got != msg {
		t.Errorf("error = %q, want %q", got, msg)
	}
}

// wantErrorContaining is wantError for messages the docs fix only in part.
func wantErrorContaining(t *testing.T, res response, status int, part string) {
	t.Helper()
	if res.status != status {
		t.Errorf("status = %d, want %d; body %s", res.status, status, res.body)
	}
	wantJSONResponse(t, res)
	if got := errorBody(t, res); !strings.Contains(got, part) {
		t.Errorf("error = %q, want it to contain %q", got, part)
	}
}

// wantBody checks a non-error response's status and exact JSON body.
func wantBody(t *testing.T, res response, status int, want map[string]any) {
	t.Helper()
	if res.status != status {
		t.Errorf("status = %d, want %d; body %s", res.status, status, res.body)
	}
	wantJSONResponse(t, res)
	wantJSONObject(t, res, want)
}

// wantJSONObject checks that the body is exactly the JSON object want.
func wantJSONObject(t *testing.T, res response, want map[string]any) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", res.body, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
}

// apiUser is a user as the API returns it.
type apiUser struct {
	ID          int64
	ClerkUserID string
	Email       *string
	Name        *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

var utcTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)

// wantUser checks a 200 user response: exactly the documented keys, an
// integer id, RFC 3339 UTC timestamps; it returns the user.
func wantUser(t *testing.T, res response) apiUser {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	wantJSONResponse(t, res)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &raw); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", res.body, err)
	}
	keys := slices.Sorted(maps.Keys(raw))
	wantKeys := []string{"clerk_user_id", "created_at", "email", "id", "name", "updated_at"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Fatalf("user keys mismatch (-want +got):\n%s\nbody %s", diff, res.body)
	}
	var wire struct {
		ID          int64   `json:"id"`
		ClerkUserID string  `json:"clerk_user_id"`
		Email       *string `json:"email"`
		Name        *string `json:"name"`
		CreatedAt   string  `json:"created_at"`
		UpdatedAt   string  `json:"updated_at"`
	}
	if err := json.Unmarshal(res.body, &wire); err != nil {
		t.Fatalf("user body %s: %v", res.body, err)
	}
	if wire.ID <= 0 {
		t.Errorf("id = %d, want a positive integer", wire.ID)
	}
	u := apiUser{ID: wire.ID, ClerkUserID: wire.ClerkUserID, Email: wire.Email, Name: wire.Name}
	for _, ts := range []struct {
		name string
		in   string
		out  *time.Time
	}{{"created_at", wire.CreatedAt, &u.CreatedAt}, {"updated_at", wire.UpdatedAt, &u.UpdatedAt}} {
		if !utcTimestamp.MatchString(ts.in) {
			t.Errorf("%s = %q, want RFC 3339 in UTC ending in Z", ts.name, ts.in)
		}
		tm, err := time.Parse(time.RFC3339Nano, ts.in)
		if err != nil {
			t.Errorf("%s = %q: %v", ts.name, ts.in, err)
		}
		if d := time.Since(tm); d < -time.Minute || d > time.Minute {
			t.Errorf("%s = %s, want about now (this service's write time)", ts.name, ts.in)
		}
		*ts.out = tm
	}
	return u
}

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

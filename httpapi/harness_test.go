package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// The package's test fixtures: testServer, the whole API over a real
// database, and what builds on it: trackingServer (devices and points),
// whHarness (webhook deliveries and the admin routes) and, in
// facing_test.go, fcServer (limits and metrics). A test file keeps only
// the helpers its own tests use.

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
	eachServer(t, jwtKeyEnv(t, key), func(t *testing.T, srv *testServer) { fn(t, srv, key) })
}

// eachServer runs fn in parallel on each database against a server with
// the settings env.
func eachServer(t *testing.T, env map[string]string, fn func(t *testing.T, srv *testServer)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		fn(t, startServer(t, db, env))
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

// httpRequest is a request to url with body; none when body is empty.
func httpRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// newRequest is a request to the server's path with body, as JSON.
func (s *testServer) newRequest(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	req := httpRequest(t, method, s.URL+path, body)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (s *testServer) send(t *testing.T, req *http.Request) response {
	t.Helper()
	return sendWith(t, s.Client(), req)
}

// sendWith sends req with client and reads the whole response.
func sendWith(t *testing.T, client *http.Client, req *http.Request) response {
	t.Helper()
	res, err := client.Do(req)
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

// wantDeleted fails unless the users service answers that clerkUserID
// has been deleted.
func (s *testServer) wantDeleted(t *testing.T, clerkUserID string) {
	t.Helper()
	if _, err := s.users.Get(context.Background(), clerkUserID); !errors.Is(err, errs.UserDeleted) {
		t.Errorf("users.Get(%s) = %v, want errs.UserDeleted", clerkUserID, err)
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

// jsonKeys returns the sorted keys of the JSON object body.
func jsonKeys(t *testing.T, body []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %v", body, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// ptrTo is a pointer to v.
func ptrTo[T any](v T) *T { return &v }

// apiUser is a user as the API returns it.
type apiUser struct {
	ID          int64
	ClerkUserID string
	Email       *string
	Name        *string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// utcTimestamp is RFC 3339 in UTC with Z, as every timestamp of the API.
var utcTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)

// wantUser checks a 200 user response: exactly the documented keys, an
// integer id, RFC 3339 UTC timestamps; it returns the user.
func wantUser(t *testing.T, res response) apiUser {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", res.status, res.body)
	}
	wantJSONResponse(t, res)
	wantKeys := []string{"clerk_user_id", "created_at", "email", "id", "name", "updated_at"}
	if diff := cmp.Diff(wantKeys, jsonKeys(t, res.body)); diff != "" {
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

// trackingServer is a testServer whose sessions are signed by key.
type trackingServer struct {
	*testServer
	key *testkit.Key
}

// startTrackingServer serves the whole API on db, with sessions signed by
// key and the further settings env.
func startTrackingServer(t *testing.T, db *bun.DB, key *testkit.Key, env ...string) *trackingServer {
	t.Helper()
	settings := jwtKeyEnv(t, key)
	for i := 0; i+1 < len(env); i += 2 {
		settings[env[i]] = env[i+1]
	}
	return &trackingServer{testServer: startServer(t, db, settings), key: key}
}

// eachTrackingServer runs fn in parallel on each database against a
// tracking server, with sessions signed by a key of the test's.
func eachTrackingServer(t *testing.T, fn func(t *testing.T, s *trackingServer)) {
	t.Helper()
	eachTrackingServerEnv(t, nil, fn)
}

// eachTrackingServerEnv is eachTrackingServer with the further settings
// env (name, value pairs).
func eachTrackingServerEnv(t *testing.T, env []string, fn func(t *testing.T, s *trackingServer)) {
	t.Helper()
	key := testkit.NewKey(t, "ins_test")
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		fn(t, startTrackingServer(t, db, key, env...))
	})
}

// user stores the user sub, as a sync would, and returns a session token.
func (s *trackingServer) user(t *testing.T, sub string) string {
	t.Helper()
	return signedInUser(t, s.users, s.key, sub)
}

// signedInUser stores the user sub in us, as a sync would, and returns a
// session token for it signed by key.
func signedInUser(t *testing.T, us *users.Service, key *testkit.Key, sub string) string {
	t.Helper()
	email := sub + "@example.com"
	if _, err := us.Upsert(context.Background(), users.Write{ClerkUserID: sub, Email: &email, Version: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return key.Sign(t, testkit.SessionClaims(sub))
}

// do sends a request; token goes in a Bearer header when not empty, and
// header holds further name, value pairs.
func (s *trackingServer) do(t *testing.T, method, path, token, body string, header ...string) response {
	t.Helper()
	req := s.newRequest(t, method, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.send(t, req)
}

// json decodes the body into v, failing the test when it cannot.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// want fails the test unless the status is status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// device is a device as the API shows it.
type device struct {
	ID           int64           `json:"id"`
	Name         string          `json:"name"`
	HardwareID   *string         `json:"hardware_id"`
	TokenHint    string          `json:"token_hint"`
	Status       string          `json:"status"`
	LastSeenAt   *time.Time      `json:"last_seen_at"`
	LastLocation json.RawMessage `json:"last_location"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`

	PushRegistered bool `json:"push_registered"`
}

// createDevice registers a device through the API and returns it with its token.
func (s *trackingServer) createDevice(t *testing.T, session, name string) (device, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	var out struct {
		Device      device `json:"device"`
		IngestToken string `json:"ingest_token"`
	}
	s.do(t, http.MethodPost, "/api/devices", session, string(body)).want(t, http.StatusCreated).json(t, &out)
	return out.Device, out.IngestToken
}

// annsDevice is the common start of a test: the user user_ann's session
// and her device Bella with its token.
func (s *trackingServer) annsDevice(t *testing.T) (ann string, d device, token string) {
	t.Helper()
	ann = s.user(t, "user_ann")
	d, token = s.createDevice(t, ann, "Bella")
	return ann, d, token
}

// ingestResult is the answer of POST /api/ingest/locations.
type ingestResult struct {
	Received   int `json:"received"`
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	Rejected   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// ingest posts points (JSON objects) with the device token.
func (s *trackingServer) ingest(t *testing.T, token string, points ...string) ingestResult {
	t.Helper()
	var out ingestResult
	s.do(t, http.MethodPost, "/api/ingest/locations", token,
		`{"locations":[`+strings.Join(points, ",")+`]}`).want(t, http.StatusOK).json(t, &out)
	return out
}

// point is a valid point as JSON, recorded at t, n steps north.
func point(at time.Time, n int) string {
	b, _ := json.Marshal(map[string]any{
		"recorded_at": at.UTC().Format(time.RFC3339Nano),
		"lat":         52.52 + float64(n)*0.00001,
		"lon":         13.405,
	})
	return string(b)
}

// rfc3339 formats t for a query string.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// The helpers of the webhook and admin tests are prefixed wh so that they
// stay clear of the other test files of this package.

// whConfig is how a whHarness is configured.
type whConfig struct {
	secrets    []string // CLERK_WEBHOOK_SIGNING_SECRET; none: the route answers 503
	adminToken string   // ADMIN_TOKEN; "": the admin routes do not exist
	sessionKey *testkit.Key
}

// whHarness is a testServer configured by a whConfig, with the real
// webhooks service behind httpapi.NewServer.
type whHarness struct {
	*testServer
	events *webhooks.Service
	cfg    whConfig
}

func whStart(t *testing.T, db *bun.DB, cfg whConfig) *whHarness {
	t.Helper()
	env := map[string]string{
		// The secrets go through the same parsing as the environment's.
		"CLERK_WEBHOOK_SIGNING_SECRET": strings.Join(cfg.secrets, ", "),
		"ADMIN_TOKEN":                  cfg.adminToken,
	}
	if cfg.sessionKey != nil {
		env["CLERK_JWT_KEY"] = cfg.sessionKey.PublicPEM(t)
	}
	srv := startServer(t, db, env)
	return &whHarness{testServer: srv, events: srv.App.Webhooks, cfg: cfg}
}

// whDefault is the usual configuration: one signing secret and an admin token.
func whDefault(t *testing.T) whConfig {
	t.Helper()
	return whConfig{secrets: []string{testkit.NewWebhookSecret(t)}, adminToken: whRandom(t, "adm_")}
}

// eachWebhookServer runs fn in parallel on each database against a
// harness configured by cfg.
func eachWebhookServer(t *testing.T, cfg whConfig, fn func(t *testing.T, h *whHarness)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		fn(t, whStart(t, db, cfg))
	})
}

func whRandom(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 32) // an admin token must have 32 characters at least
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// whSign is the v1 signature Svix sends for body, made by the svix library.
func whSign(t *testing.T, secret, msgID string, ts time.Time, body []byte) string {
	t.Helper()
	return testkit.SignedHeaders(t, secret, msgID, ts, body).Get("svix-signature")
}

// do sends body with header as it is.
func (h *whHarness) do(t *testing.T, method, path string, header http.Header, body []byte) response {
	t.Helper()
	req := h.newRequest(t, method, path, string(body))
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	return h.send(t, req)
}

// post sends body to the webhook route with header as it is.
func (h *whHarness) post(t *testing.T, header http.Header, body []byte) response {
	t.Helper()
	return h.do(t, http.MethodPost, "/api/webhooks/clerk", header, body)
}

// deliver sends body as Svix does: signed now with the first secret.
func (h *whHarness) deliver(t *testing.T, msgID string, body []byte) response {
	t.Helper()
	return h.post(t, testkit.SignedHeaders(t, h.cfg.secrets[0], msgID, time.Now(), body), body)
}

// wantProcessed delivers body and checks the 200 answer of a processed event.
func (h *whHarness) wantProcessed(t *testing.T, msgID string, body []byte, eventType string, outcome webhooks.Outcome) {
	t.Helper()
	wantBody(t, h.deliver(t, msgID, body), http.StatusOK,
		map[string]any{"svix_id": msgID, "type": eventType, "outcome": string(outcome)})
}

// storedEvent returns the event log's record of msgID.
func (h *whHarness) storedEvent(t *testing.T, msgID string) webhooks.StoredEvent {
	t.Helper()
	ev, err := h.events.Get(context.Background(), msgID)
	if err != nil {
		t.Fatalf("events.Get(%s): %v", msgID, err)
	}
	return ev
}

// wantNotRecorded fails if the event log has a record of msgID.
func (h *whHarness) wantNotRecorded(t *testing.T, msgID string) {
	t.Helper()
	if ev, err := h.events.Get(context.Background(), msgID); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("events.Get(%s) = %+v, %v; want ErrNotFound: nothing recorded", msgID, ev, err)
	}
}

// countRows counts the rows of table.
func (h *whHarness) countRows(t *testing.T, table string) int {
	t.Helper()
	n, err := h.db.NewSelect().TableExpr(table).Count(context.Background())
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return int(n)
}

// whStoredUser is what the database says about a user.
type whStoredUser struct {
	Email, Name *string
	Deleted     bool
}

func (h *whHarness) user(t *testing.T, clerkUserID string) whStoredUser {
	t.Helper()
	var u users.User
	err := h.db.NewSelect().Model(&u).Where("clerk_user_id = ?", clerkUserID).Scan(context.Background())
	if err != nil {
		t.Fatalf("select user %s: %v", clerkUserID, err)
	}
	return whStoredUser{Email: u.Email, Name: u.Name, Deleted: u.Deleted()}
}

func (h *whHarness) wantUser(t *testing.T, clerkUserID string, want whStoredUser) {
	t.Helper()
	if diff := cmp.Diff(want, h.user(t, clerkUserID)); diff != "" {
		t.Errorf("stored user %s mismatch (-want +got):\n%s", clerkUserID, diff)
	}
}

// whFixture is a recorded Clerk webhook body of the webhooks package.
func whFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "webhooks", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sync posts to /api/auth/sync as the app does.
func (h *whHarness) sync(t *testing.T, clerkUserID, email string, iat time.Time) response {
	t.Helper()
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("Authorization", "Bearer "+h.cfg.sessionKey.TokenAt(t, clerkUserID, iat))
	body := fmt.Sprintf(`{"clerk_user_id":%q,"email":%q}`, clerkUserID, email)
	return h.do(t, http.MethodPost, "/api/auth/sync", header, []byte(body))
}

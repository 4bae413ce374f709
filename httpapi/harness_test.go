package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
)

// trackingServer is a testServer whose requests go out as written and
// whose responses come back as sent: no transparent gzip.
type trackingServer struct {
	*testServer
	key    *testkit.Key
	client *http.Client
}

// startTrackingServer serves the whole API on db, with sessions signed by
// key and the further settings env.
func startTrackingServer(t *testing.T, db *bun.DB, key *testkit.Key, env ...string) *trackingServer {
	t.Helper()
	settings := jwtKeyEnv(t, key)
	for i := 0; i+1 < len(env); i += 2 {
		settings[env[i]] = env[i+1]
	}
	return &trackingServer{
		testServer: startServer(t, db, settings),
		key:        key,
		client:     &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
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
	email := sub + "@example.com"
	if _, err := s.users.Upsert(context.Background(), users.Write{ClerkUserID: sub, Email: &email, Version: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return s.key.Sign(t, testkit.SessionClaims(sub))
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
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
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

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/go-jose/go-jose/v3/jwt"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// testKey is an RSA key pair: the public half is CLERK_JWT_KEY, the
// private half signs session tokens as Clerk would.
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

// sessionToken returns a Clerk-style RS256 session token for sub, valid
// for a minute.
func (k testKey) sessionToken(t *testing.T, sub string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.private},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "ins_test"))
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Now().Add(-time.Second)
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:    "https://clerk.example.com",
		Subject:   sub,
		IssuedAt:  jwt.NewNumericDate(iat),
		NotBefore: jwt.NewNumericDate(iat),
		Expiry:    jwt.NewNumericDate(iat.Add(time.Minute)),
	}).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// lockedBuffer collects log lines written by the server's goroutines.
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

// server is the whole HTTP surface on a real database.
type server struct {
	url      string
	db       *bun.DB
	key      testKey
	users    *users.Service
	tracking *tracking.Service
	logs     *lockedBuffer
	client   *http.Client
}

func newServer(t *testing.T, db *bun.DB, key testKey, cfg tracking.Config) *server {
	t.Helper()
	sessions, err := httpapi.NewSessionVerifier(httpapi.SessionConfig{JWTKey: key.pem})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{
		db:       db,
		key:      key,
		users:    users.NewService(db),
		tracking: tracking.NewService(db, cfg),
		logs:     &lockedBuffer{},
		// Responses as sent: no transparent gzip.
		client: &http.Client{Transport: &http.Transport{DisableCompression: true}},
	}
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := httptest.NewServer(httpapi.NewServer(httpapi.Deps{
		Logger:          logger,
		DB:              db,
		Users:           s.users,
		Sessions:        sessions,
		Tracking:        s.tracking,
		OsmAndSpeedUnit: tracking.SpeedKnots,
	}))
	t.Cleanup(ts.Close)
	s.url = ts.URL
	return s
}

// user stores the user sub, as a sync would, and returns a session token.
func (s *server) user(t *testing.T, sub string) string {
	t.Helper()
	email := sub + "@example.com"
	if _, err := s.users.Upsert(context.Background(), users.Write{ClerkUserID: sub, Email: &email, Version: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return s.key.sessionToken(t, sub)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; token goes in a Bearer header when not empty, and
// header holds further name, value pairs.
func (s *server) do(t *testing.T, method, path, token, body string, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
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
}

// createDevice registers a device through the API and returns it with its token.
func (s *server) createDevice(t *testing.T, session, name string) (device, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	var out struct {
		Device      device `json:"device"`
		IngestToken string `json:"ingest_token"`
	}
	s.do(t, http.MethodPost, "/api/devices", session, string(body)).want(t, http.StatusCreated).json(t, &out)
	return out.Device, out.IngestToken
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
func (s *server) ingest(t *testing.T, token string, points ...string) ingestResult {
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

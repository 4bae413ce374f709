package testkit

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/app"
)

// Server is the real service, assembled by package app from settings as
// the serve command assembles it, on a test database and a local listener.
type Server struct {
	*httptest.Server
	App  *app.App
	Logs *LockedBuffer // the server's JSON log at debug level
}

// Start serves the service on db with the settings env (environment
// variables, as the process would read them). Rate limits are off unless
// env sets them. The server's log is shown when the test fails.
func Start(t testing.TB, db *bun.DB, env map[string]string) *Server {
	t.Helper()
	settings := map[string]string{"RATE_LIMIT_RPS": "0", "LOG_LEVEL": "debug"}
	for k, v := range env {
		settings[k] = v
	}
	cfg, err := app.LoadConfig(Env(settings))
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	logs := &LockedBuffer{}
	a, err := app.New(cfg, db, app.NewLogger(cfg, logs))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	srv := httptest.NewUnstartedServer(a.Handler)
	srv.Config = app.NewHTTPServer(a.Handler)
	srv.Start()
	// Requests go as written and responses come back as sent: no
	// transparent gzip, so that tests see Content-Encoding.
	srv.Client().Transport.(*http.Transport).DisableCompression = true
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return &Server{Server: srv, App: a, Logs: logs}
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request; token goes in a Bearer header when not empty, and
// header holds further name, value pairs.
func (s *Server) Do(t testing.TB, method, path, token, body string, header ...string) Response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return Send(t, s.Client(), req)
}

// Send sends req with client and reads the whole answer.
func Send(t testing.TB, client *http.Client, req *http.Request) Response {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Want fails the test unless the status is status.
func (r Response) Want(t testing.TB, status int) Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}

// JSON decodes the body into v, failing the test when it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
}

// Logger is a debug-level JSON logger into buf, for tests that build a
// piece of the service by hand.
func Logger(buf io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// streamingSpan is a tracking service whose export emits points, then
// waits for release (or fails, when fail is set), then emits as many again.
type streamingSpan struct {
	points  int
	release chan struct{}
	fail    bool
}

func (streamingSpan) PlanSpan(deviceID int64, _, _ *time.Time) (tracking.Span, error) {
	return tracking.Span{DeviceID: deviceID, From: time.Unix(0, 0), To: time.Unix(3600, 0)}, nil
}

func (s streamingSpan) Export(ctx context.Context, _ int64, _ tracking.Span, start func(tracking.Device) error, emit func(tracking.Location) error) error {
	if err := start(tracking.Device{Name: "Bella"}); err != nil {
		return err
	}
	for round := range 2 {
		for i := range s.points {
			if err := emit(tracking.Location{RecordedAt: time.Unix(int64(round*s.points+i), 0), Lat: 1, Lon: 2}); err != nil {
				return err
			}
		}
		if round == 0 {
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			if s.fail {
				return errors.New("connection reset by database")
			}
		}
	}
	return nil
}

func (streamingSpan) Summary(context.Context, int64, tracking.Span) (tracking.Summary, error) {
	return tracking.Summary{}, errors.New("not used")
}

// asDeviceRoute is h behind the request middleware, called as the route
// of device 7 by the signed-in user_x.
func asDeviceRoute(logger *slog.Logger, h http.Handler) http.Handler {
	return observe(logger, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = mux.SetURLVars(r, map[string]string{"deviceId": "7"})
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey, clerk.Session{UserID: "user_x"})))
	}))
}

func serveExport(t *testing.T, sr spanReader) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(asDeviceRoute(logger, handleExport(logger, oneUser{}, sr)))
	t.Cleanup(srv.Close)
	return srv
}

// TestExportStreams: the first points reach the client while the export
// is still reading (the service waits for the client to have them), in
// every format; nothing waits for the end of the range.
func TestExportStreams(t *testing.T) {
	for _, format := range []string{"gpx", "csv", "geojson"} {
		t.Run(format, func(t *testing.T) {
			release := make(chan struct{})
			srv := serveExport(t, streamingSpan{points: 20000, release: release})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a failsafe: a buffered export never releases
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?format="+format, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("no response while the export waits for its client: %v", err)
			}
			defer resp.Body.Close()
			first := make([]byte, 256<<10) // far past any buffer
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatalf("the first 256 KiB did not arrive while the export was reading: %v", err)
			}
			close(release)
			rest, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := string(first) + string(rest)
			if n := strings.Count(body, "1970-01-01T11:06:39"); n != 1 { // the 40,000th point, at 39,999 s
				t.Errorf("the last point appears %d times", n)
			}
		})
	}
}

// TestExportFailure: a failure after the start cuts the connection, so
// that a client never takes a truncated file for a whole one.
func TestExportFailure(t *testing.T) {
	release := make(chan struct{})
	close(release)
	srv := serveExport(t, streamingSpan{points: 5000, release: release, fail: true})
	resp, err := srv.Client().Get(srv.URL + "?format=csv")
	if err != nil {
		return // cut before the headers: fine
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read a whole body after a failure (%v): %d bytes", err, len(body))
	}
	if !strings.HasPrefix(string(body), "recorded_at,") {
		t.Errorf("body %.60q, want the CSV's start", body)
	}
}

// slowSpan emits batches of points with a pause between them, as a big
// range read over a slow link does.
type slowSpan struct {
	streamingSpan
	batches int
	pause   time.Duration
}

func (s slowSpan) Export(ctx context.Context, _ int64, _ tracking.Span, start func(tracking.Device) error, emit func(tracking.Location) error) error {
	if err := start(tracking.Device{Name: "Bella"}); err != nil {
		return err
	}
	for b := range s.batches {
		for i := range exportDeadlinePoints {
			if err := emit(tracking.Location{RecordedAt: time.Unix(int64(b*exportDeadlinePoints+i), 0), Lat: 1, Lon: 2}); err != nil {
				return err
			}
		}
		time.Sleep(s.pause)
	}
	return nil
}

// TestExportOutlivesTheWriteTimeout: the server's write timeout bounds a
// whole response; an export that keeps its client reading moves the
// deadline on and is not cut.
func TestExportOutlivesTheWriteTimeout(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := handleExport(logger, oneUser{}, slowSpan{batches: 5, pause: 150 * time.Millisecond})
	srv := httptest.NewUnstartedServer(asDeviceRoute(logger, h))
	srv.Config.WriteTimeout = 300 * time.Millisecond // the export takes 750 ms
	srv.Start()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the export was cut after %d bytes: %v", len(body), err)
	}
	if n := strings.Count(string(body), "\r\n"); n != 5*exportDeadlinePoints+1 {
		t.Errorf("%d lines, want %d", n, 5*exportDeadlinePoints+1)
	}
}

// oneUser is the users service holding one live user.
type oneUser struct{}

func (oneUser) Get(context.Context, string) (users.User, error) { return users.User{ID: 1}, nil }

// failingRoute emits points and then fails as a broken database would.
type failingRoute struct{ pointsBeforeFailure int }

func (failingRoute) PlanRoute(deviceID int64, _ tracking.RouteQuery) (tracking.RoutePlan, error) {
	return tracking.RoutePlan{DeviceID: deviceID, From: time.Unix(0, 0), To: time.Unix(3600, 0), Limit: 10}, nil
}

func (f failingRoute) Route(_ context.Context, _ int64, _ tracking.RoutePlan, emit func(tracking.Location) error) (tracking.RoutePage, error) {
	for i := range f.pointsBeforeFailure {
		if err := emit(tracking.Location{RecordedAt: time.Unix(int64(i), 0), Lat: 1, Lon: 2}); err != nil {
			return tracking.RoutePage{}, err
		}
	}
	return tracking.RoutePage{}, errors.New("connection reset by database")
}

// TestRouteFailure: a failure before the first point is a JSON 500; one
// after it cuts the connection, whether or not bytes of the page were sent,
// so that a client never takes a truncated page for a whole one.
func TestRouteFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		points int
	}{
		{"before the first point", 0},
		{"with the page still buffered", 3},
		{"with part of the page sent", 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			h := handleRoute(logger, oneUser{}, failingRoute{pointsBeforeFailure: tc.points})
			srv := httptest.NewServer(asDeviceRoute(logger, h))
			defer srv.Close()

			resp, err := http.Get(srv.URL)
			if err != nil {
				if tc.points == 0 {
					t.Fatal(err)
				}
				return // cut before the headers
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			switch {
			case tc.points == 0:
				if resp.StatusCode != http.StatusInternalServerError || string(body) != `{"error":"Database error occurred"}`+"\n" {
					t.Errorf("%d %q, want 500 with the database error body", resp.StatusCode, body)
				}
			case !errors.Is(err, io.ErrUnexpectedEOF):
				t.Errorf("read a whole body after a failure (%v): %.100q", err, body)
			case !strings.HasPrefix(string(body), `{"device_id":7`):
				t.Errorf("body %.100q, want the page's start", body)
			}
		})
	}
}

// TestStreamFailingAfterFirstByteIsAborted: once a response has started,
// a failure, a panic included, must cut the connection: over a real
// listener the client sees a broken response, never a complete-looking
// one. The access log still has the request, marked aborted.
func TestStreamFailingAfterFirstByteIsAborted(t *testing.T) {
	for name, fail := range map[string]func(){
		"panic":        func() { panic("boom mid-stream") },
		"deliberately": func() { panic(http.ErrAbortHandler) },
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			srv := httptest.NewServer(observe(logger, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, `{"points":[`+strings.Repeat(`{"lat":1},`, 1000))
				http.NewResponseController(w).Flush()
				fail()
			})))
			defer srv.Close()

			res, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err == nil {
				t.Fatalf("read a complete response of %d bytes (%.40q…); want the connection cut", len(body), body)
			}
			if res.StatusCode != http.StatusOK || len(body) == 0 {
				t.Errorf("status %d with %d bytes before the cut, want 200 and the bytes sent", res.StatusCode, len(body))
			}
			srv.Close() // the handler has returned: the log is complete
			var sawAborted bool
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l map[string]any
				if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "request" && l["aborted"] == true {
					sawAborted = true
				}
			}
			if !sawAborted {
				t.Errorf("no access log line marked aborted:\n%s", logs.String())
			}
		})
	}
}

// TestPanicBecomesJSON500: a panicking handler answers a JSON 500 and
// leaves a log line with the request id; the server goes on.
func TestPanicBecomesJSON500(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := observe(logger, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	}))

	req := httptest.NewRequest(http.MethodGet, "/anything", nil)
	req.Header.Set("X-Request-Id", "req-panic-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 1 || body["error"] == "" {
		t.Errorf("body = %q, want one error key", rec.Body.String())
	}
	if rec.Header().Get("X-Request-Id") != "req-panic-1" {
		t.Errorf("X-Request-Id = %q", rec.Header().Get("X-Request-Id"))
	}
	var sawPanic, sawAccess bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l["msg"] == "panic" && l["request_id"] == "req-panic-1" && l["panic"] == "boom" {
			sawPanic = true
		}
		if l["msg"] == "request" && l["status"] == float64(500) {
			sawAccess = true
		}
	}
	if !sawPanic || !sawAccess {
		t.Errorf("logs lack the panic line or the access line:\n%s", logs.String())
	}
}

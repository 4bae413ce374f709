package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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

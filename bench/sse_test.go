package bench_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/bench"
)

// TestStreamParsesEventStream feeds the client the event stream format's
// corners, flushed in pieces so that lines and events straddle chunks.
func TestStreamParsesEventStream(t *testing.T) {
	long := strings.Repeat("x", 10_000) // longer than the client's 4 KiB buffer
	pieces := []string{
		": heartbeat\n\n",
		"id: 7:1000\nevent: location\ndata: {\"a\":1}\n\n",
		"event: dev", "ice\ndata: first line\r\ndata:second line\r\n\r\n", // CRLF, no space after the colon
		"data: nameless\n\n",        // no event: it is a "message"
		"event: nothing\nid: 9\n\n", // no data: not dispatched
		"event: long\ndata: " + long + "\n\n",
		": another comment\n",
		"event: reauthenticate\ndata: {\"reason\":\"token_expired\"}\n\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/plain" {
			w.Write([]byte("not a stream"))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, p := range pieces {
			w.Write([]byte(p))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	s, err := bench.OpenStream(addr, "/stream", []string{"Authorization: Bearer good"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []bench.StreamEvent
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		ev.Data = append([]byte(nil), ev.Data...)
		got = append(got, ev)
	}
	want := []bench.StreamEvent{
		{ID: "7:1000", Name: "location", Data: []byte(`{"a":1}`)},
		{Name: "device", Data: []byte("first line\nsecond line")},
		{Name: "message", Data: []byte("nameless")},
		{Name: "long", Data: []byte(long)},
		{Name: "reauthenticate", Data: []byte(`{"reason":"token_expired"}`)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if s.Comments != 2 {
		t.Errorf("Comments = %d, want 2", s.Comments)
	}

	_, err = bench.OpenStream(addr, "/stream", nil, 5*time.Second)
	var se *bench.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || !strings.Contains(se.Body, "unauthorized") {
		t.Errorf("without a token: %v, want a 401 StatusError with the body", err)
	}
	if _, err := bench.OpenStream(addr, "/plain", []string{"Authorization: Bearer good"}, 5*time.Second); err == nil {
		t.Error("a 200 that is not text/event-stream opened as a stream")
	}
	if _, err := bench.OpenStream("example.com:80", "/", nil, time.Second); err == nil {
		t.Error("OpenStream accepted a host that is not loopback")
	}
}

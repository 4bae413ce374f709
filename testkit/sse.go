package testkit

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Event is one Server-Sent Event, or a comment line (Comment set).
type Event struct {
	ID, Name, Data string
	Comment        string
}

// SSE is a client of one open event stream: a goroutine parses the
// stream (the WHATWG rules: field lines, a blank line ends an event,
// lines starting with ':' are comments) into Events.
type SSE struct {
	Response *http.Response
	events   chan Event
	done     chan struct{} // closed when the stream ended
	ctx      context.Context
	cancel   context.CancelFunc
}

// OpenSSE opens the stream at url with token as Bearer. A status other
// than 200 comes back as a Response and a nil *SSE.
func OpenSSE(t testing.TB, client *http.Client, url, token string) (*SSE, Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return nil, Response{Status: res.StatusCode, Header: res.Header, Body: b}
	}
	s := &SSE{Response: res, events: make(chan Event, 1024), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go s.read()
	t.Cleanup(s.Close)
	return s, Response{Status: res.StatusCode, Header: res.Header}
}

func (s *SSE) read() {
	defer close(s.done)
	defer s.Response.Body.Close()
	sc := bufio.NewScanner(s.Response.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev Event
	var data []string
	emit := func(e Event) bool {
		select {
		case s.events <- e:
			return true
		case <-s.ctx.Done():
			return false
		}
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" || len(data) > 0 {
				if ev.Name == "" {
					ev.Name = "message"
				}
				ev.Data = strings.Join(data, "\n")
				if !emit(ev) {
					return
				}
			}
			ev, data = Event{}, nil
		case strings.HasPrefix(line, ":"):
			if !emit(Event{Comment: strings.TrimSpace(line[1:])}) {
				return
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.Name = value
			case "data":
				data = append(data, value)
			case "id":
				ev.ID = value
			}
		}
	}
}

// Next returns the next event or comment, failing the test if none comes
// within wait or the stream ends first.
func (s *SSE) Next(t testing.TB, wait time.Duration) Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
	case <-s.done:
		select {
		case ev := <-s.events:
			return ev
		default:
		}
		t.Fatal("the stream ended")
	}
	return Event{}
}

// NextEvent is Next, skipping comments.
func (s *SSE) NextEvent(t testing.TB, wait time.Duration) Event {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ev := s.Next(t, time.Until(deadline))
		if ev.Comment == "" {
			return ev
		}
	}
}

// Quiet fails the test if an event (not a comment) arrives within wait.
func (s *SSE) Quiet(t testing.TB, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev := <-s.events:
			if ev.Comment == "" {
				t.Fatalf("unexpected event %q: %s", ev.Name, ev.Data)
			}
		case <-deadline:
			return
		case <-s.done:
			return
		}
	}
}

// WaitEnd fails the test unless the server ends the stream within wait
// (events still queued are dropped).
func (s *SSE) WaitEnd(t testing.TB, wait time.Duration) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatalf("the stream did not end within %v", wait)
	}
}

// Close ends the stream from the client's side.
func (s *SSE) Close() {
	s.cancel()
	<-s.done
}

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Stream is one Server-Sent Events response on a connection of its own:
// a small client for benchmarks that hold thousands of streams open, where
// Go's http.Client would cost more memory and CPU on the machine it shares
// with the server. It speaks only to loopback addresses.
type Stream struct {
	nc     net.Conn
	resp   *http.Response
	body   *bufio.Reader // the body, de-chunked
	Header http.Header
	// Comments counts the comment lines read (": heartbeat").
	Comments int
	data     []byte
}

// StreamEvent is one event: its id, its name (event:, "message" when
// absent) and its data lines joined by "\n". Data is valid until the next
// call of Next.
type StreamEvent struct {
	ID, Name string
	Data     []byte
}

// StatusError is the answer of a stream that did not open: its status
// and the start of its body.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// OpenStream sends GET path to addr (host:port, loopback) with header
// lines ("Name: value") and reads the response head, within timeout. A
// status other than 200 is a *StatusError; a 200 that is not
// text/event-stream is an error too.
func OpenStream(addr, path string, headers []string, timeout time.Duration) (*Stream, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("bench: refusing to send traffic to %q", addr)
	}
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	req := Request(nil, http.MethodGet, addr, path, append([]string{"Accept: text/event-stream"}, headers...), nil)
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return nil, err
	}
	// ReadResponse needs the request only to know that a GET's response
	// has a body; it de-chunks the body.
	get, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	resp, err := http.ReadResponse(bufio.NewReaderSize(nc, 4<<10), get)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		nc.Close()
		return nil, &StatusError{Status: resp.StatusCode, Body: string(b)}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		nc.Close()
		return nil, fmt.Errorf("stream answered Content-Type %q", ct)
	}
	_ = nc.SetDeadline(time.Time{}) // a stream is idle for as long as it likes
	return &Stream{nc: nc, resp: resp, body: bufio.NewReaderSize(resp.Body, 4<<10), Header: resp.Header}, nil
}

// Next reads the next event, skipping comments, by the rules of the
// WHATWG event stream format: lines end in LF or CRLF; "field: value"
// with one optional space after the colon; a line starting with ':' is a
// comment; a blank line dispatches the event if it has data. It returns
// io.EOF when the server ends the stream.
func (s *Stream) Next() (StreamEvent, error) {
	var ev StreamEvent
	s.data = s.data[:0]
	hasData := false
	for {
		line, err := s.body.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = s.body.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			return StreamEvent{}, err // io.EOF: the server ended the stream
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if !hasData {
				ev = StreamEvent{} // an event without data is not dispatched
				continue
			}
			if ev.Name == "" {
				ev.Name = "message"
			}
			ev.Data = s.data
			return ev, nil
		}
		if line[0] == ':' {
			s.Comments++
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Name = string(value)
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID = string(value)
			}
		}
	}
}

// Close closes the connection; a Next blocked on it returns an error.
func (s *Stream) Close() error { return s.nc.Close() }

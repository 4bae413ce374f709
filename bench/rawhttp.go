package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The load generators' HTTP/1.1 clients, for loopback only: Conn sends
// requests built as bytes (Request), Stream reads Server-Sent Events.

// Conn is one keep-alive HTTP/1.1 connection that sends requests built as
// bytes and reads responses with as little work as it can: on a machine
// shared by the server, the database and the load generator, every
// microsecond the generator spends is taken from the other two (pgbench's
// own client is lean C). It speaks only to loopback addresses.
type Conn struct {
	addr string
	nc   net.Conn
	r    *bufio.Reader
	body []byte
}

// Dial opens a connection to addr (host:port), which must be loopback.
func Dial(addr string) (*Conn, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	c := &Conn{addr: addr}
	return c, c.redial()
}

// checkLoopback refuses an addr (host:port) that is not a loopback address:
// the load generators never send traffic to another machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("bench: refusing to send traffic to %q", addr)
	}
	return nil
}

func (c *Conn) redial() error {
	if c.nc != nil {
		c.nc.Close()
	}
	nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return err
	}
	c.nc = nc
	c.r = bufio.NewReaderSize(nc, 16<<10)
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	if c.nc == nil {
		return nil
	}
	return c.nc.Close()
}

// Do sends req, a whole HTTP/1.1 request, and returns the response's
// status and body (valid until the next Do). A connection the server
// closed while idle is reopened once.
func (c *Conn) Do(req []byte, deadline time.Time) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		status, body, err := c.do(req, deadline)
		if err == nil || attempt > 0 || !errors.Is(err, errIdleClosed) {
			return status, body, err
		}
		if err := c.redial(); err != nil {
			return 0, nil, err
		}
	}
}

var errIdleClosed = errors.New("connection closed before a response")

func (c *Conn) do(req []byte, deadline time.Time) (int, []byte, error) {
	c.nc.SetDeadline(deadline)
	if _, err := c.nc.Write(req); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errIdleClosed, err)
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(line) == 0 {
			return 0, nil, errIdleClosed
		}
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "Content-Length"):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		case asciiEqualFold(k, "Transfer-Encoding"):
			chunked = asciiEqualFold(v, "chunked")
		case asciiEqualFold(k, "Connection"):
			closing = asciiEqualFold(v, "close")
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		err = c.readChunked()
	case length >= 0:
		c.body = grow(c.body, length)
		_, err = io.ReadFull(c.r, c.body)
	default:
		closing = true
		var b bytes.Buffer
		_, err = b.ReadFrom(c.r)
		c.body = b.Bytes()
	}
	if err != nil {
		return 0, nil, err
	}
	if closing {
		if err := c.redial(); err != nil {
			return 0, nil, err
		}
	}
	return status, c.body, nil
}

func (c *Conn) readChunked() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if n == 0 {
			for { // trailers, then the blank line
				t, err := c.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		start := len(c.body)
		c.body = grow(c.body, start+int(n))
		if _, err := io.ReadFull(c.r, c.body[start:]); err != nil {
			return err
		}
		if _, err := c.r.Discard(2); err != nil { // CRLF
			return err
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		nb := make([]byte, n, max(n, 2*cap(b)))
		copy(nb, b)
		return nb
	}
	return b[:n]
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Request appends an HTTP/1.1 request to dst: method, the host:port it
// goes to, the path, header lines ("Name: value"), and body (nil for none).
func Request(dst []byte, method, addr, path string, headers []string, body []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, addr...)
	dst = append(dst, "\r\nUser-Agent: usersync-bench\r\n"...)
	for _, h := range headers {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	if body != nil {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

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
	if err := checkLoopback(addr); err != nil {
		return nil, err
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

// AppendLocation appends to a batch ingest body (POST
// /api/ingest/locations) one point as a tracker app sends it, every field
// set: recorded at ms (Unix milliseconds) at lat, lon, heading course.
func AppendLocation(dst []byte, ms int64, lat, lon float64, course int) []byte {
	dst = append(dst, `{"recorded_at":"`...)
	dst = time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, `","lat":`...)
	dst = strconv.AppendFloat(dst, lat, 'f', 6, 64)
	dst = append(dst, `,"lon":`...)
	dst = strconv.AppendFloat(dst, lon, 'f', 6, 64)
	dst = append(dst, `,"accuracy_m":4.8,"altitude_m":41.2,"speed_mps":1.39,"course_deg":`...)
	dst = strconv.AppendInt(dst, int64(course), 10)
	return append(dst, `,"battery_pct":87}`...)
}

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

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
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("bench: refusing to send traffic to %q", addr)
	}
	c := &Conn{addr: addr}
	return c, c.redial()
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

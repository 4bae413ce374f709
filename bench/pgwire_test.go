package bench_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// sqlRecorder is a PostgreSQL wire-protocol proxy that records the
// statements its clients send: the text of every simple Query, and of the
// prepared statement behind every Bind of the extended protocol. It sees
// what reaches PostgreSQL whatever library sends it (bun today, pgx's
// prepared statements tomorrow), so TestLoadRequests keeps comparing the
// service's statements with the pgbench scripts as the write path changes.
type sqlRecorder struct {
	ln       net.Listener
	upstream string // host:port of the real server
	base     *url.URL

	mu        sync.Mutex
	recording bool
	stmts     []string
}

// startRecorder proxies the PostgreSQL server of databaseURL on a local
// port until the test ends.
func startRecorder(t *testing.T, databaseURL string) *sqlRecorder {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &sqlRecorder{ln: ln, upstream: u.Host, base: u}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.serve(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					t.Logf("sql recorder: %v", err)
				}
			}()
		}
	}()
	return r
}

// URL is the database URL through the proxy; TLS is off, so that the
// messages can be read.
func (r *sqlRecorder) URL() string {
	u := *r.base
	u.Host = r.ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// record starts recording, dropping what was recorded before.
func (r *sqlRecorder) record() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recording, r.stmts = true, nil
}

// stop ends recording and returns the statements sent meanwhile.
func (r *sqlRecorder) stop() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recording = false
	return r.stmts
}

func (r *sqlRecorder) add(stmt string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recording {
		r.stmts = append(r.stmts, stmt)
	}
}

// serve relays one client connection. Messages from the client are read
// whole, recorded, then forwarded, so that a statement is recorded before
// PostgreSQL can answer it (and so before the service answers its request).
func (r *sqlRecorder) serve(client net.Conn) error {
	defer client.Close()
	server, err := net.Dial("tcp", r.upstream)
	if err != nil {
		return err
	}
	defer server.Close()
	go func() {
		io.Copy(client, server)
		client.Close()
	}()
	in := bufio.NewReader(client)
	// The startup packet has no type byte; an SSL or GSS request is
	// answered "no" by the server (sslmode=disable sends none) and followed
	// by the real startup packet.
	for {
		msg, err := readMessage(in, false)
		if err != nil {
			return err
		}
		if _, err := server.Write(msg); err != nil {
			return err
		}
		if code := binary.BigEndian.Uint32(msg[4:8]); code != 80877103 && code != 80877104 {
			break
		}
	}
	prepared := map[string]string{} // statement name → text, on this connection
	for {
		msg, err := readMessage(in, true)
		if err != nil {
			return err
		}
		body := msg[5:]
		switch msg[0] {
		case 'Q': // Query: text
			r.add(cstring(body))
		case 'P': // Parse: name, text, parameter types
			name := cstring(body)
			prepared[name] = cstring(body[len(name)+1:])
		case 'B': // Bind: portal, statement name, …: one execution of the statement
			portal := cstring(body)
			r.add(prepared[cstring(body[len(portal)+1:])])
		}
		if _, err := server.Write(msg); err != nil {
			return err
		}
	}
}

// readMessage reads one frontend message: a type byte (unless it is the
// startup packet), a big-endian length that counts itself, the body.
func readMessage(in *bufio.Reader, typed bool) ([]byte, error) {
	head := 4
	if typed {
		head = 5
	}
	msg := make([]byte, head)
	if _, err := io.ReadFull(in, msg); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(msg[head-4:]))
	if n < 4 || n > 1<<30 {
		return nil, fmt.Errorf("bad message length %d", n)
	}
	msg = append(msg, make([]byte, n-4)...)
	if _, err := io.ReadFull(in, msg[head:]); err != nil {
		return nil, err
	}
	if !typed && n < 8 {
		return nil, fmt.Errorf("startup packet of %d bytes", n)
	}
	return msg, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// normalize reduces a statement to its shape, so that the service's text
// (values inlined by bun, or $n parameters) and a pgbench script's (values
// from pgbench variables, built with || and a few functions) compare
// equal when they do the same work: comments and pgbench's \gset go;
// every literal, parameter, :variable, NULL, DEFAULT, TRUE and FALSE is
// "?"; an expression that only combines values (?||?, ?::type, ?+?, (?),
// sha256/convert_to/lpad of values) is "?"; words are lower case.
// Identifiers, operators, clauses and their order are kept.
func normalize(stmt string) string {
	toks := lexSQL(stmt)
	valueFuncs := map[string]bool{"sha256": true, "convert_to": true, "lpad": true}
	isWord := func(s string) bool {
		return s != "?" && (s[0] == '"' || unicode.IsLetter(rune(s[0])) || s[0] == '_')
	}
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(toks); i++ {
			at := func(j int) string {
				if j < 0 || j >= len(toks) {
					return ""
				}
				return toks[j]
			}
			replace := func(n int) { // toks[i:i+n] becomes "?"
				toks = append(append(toks[:i:i], "?"), toks[i+n:]...)
				changed = true
			}
			switch {
			case at(i) == "?" && at(i+1) == "::" && at(i+2) != "" && isWord(at(i+2)):
				replace(3)
			case at(i) == "?" && at(i+2) == "?" && strings.Contains("|| + - * / %", at(i+1)) && at(i+1) != "":
				replace(3)
			case at(i) == "(" && at(i+1) == "?" && at(i+2) == ")" && !isWord(at(i-1)):
				replace(3)
			case valueFuncs[at(i)] && at(i+1) == "(":
				j := i + 2
				for at(j) == "?" && (at(j+1) == "," || at(j+1) == ")") {
					if at(j+1) == ")" {
						replace(j + 2 - i)
						break
					}
					j += 2
				}
			}
		}
	}
	return strings.Join(toks, " ")
}

// lexSQL splits SQL into tokens with values already "?" (see normalize).
func lexSQL(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case strings.HasPrefix(s[i:], "--"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '\\': // a pgbench meta-command after the statement (\gset)
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '\'' || ((c == 'E' || c == 'e') && i+1 < len(s) && s[i+1] == '\''):
			if c != '\'' {
				i++
			}
			for i++; i < len(s); i++ {
				if s[i] == '\\' && c != '\'' {
					i++
				} else if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
			i++
			toks = append(toks, "?")
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				j++
			}
			toks = append(toks, s[i:min(j+1, len(s))])
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
				(s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E')) {
				i++
			}
			toks = append(toks, "?")
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			}
			toks = append(toks, "?")
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			toks = append(toks, "::")
			i += 2
		case c == ':' && i+1 < len(s) && (unicode.IsLetter(rune(s[i+1])) || s[i+1] == '_'):
			for i++; i < len(s) && (unicode.IsLetter(rune(s[i])) || unicode.IsDigit(rune(s[i])) || s[i] == '_'); i++ {
			}
			toks = append(toks, "?")
		case unicode.IsLetter(rune(c)) || c == '_':
			j := i
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' || s[j] == '$') {
				j++
			}
			w := strings.ToLower(s[i:j])
			switch w {
			case "null", "default", "true", "false":
				w = "?"
			}
			toks = append(toks, w)
			i = j
		case c == ';':
			i++ // statement terminator
		default:
			op := s[i : i+1]
			for _, two := range []string{"||", "<=", ">=", "<>", "!="} {
				if strings.HasPrefix(s[i:], two) {
					op = two
				}
			}
			toks = append(toks, op)
			i += len(op)
		}
	}
	return toks
}

// splitScript returns the SQL statements of a pgbench script, without its
// comments and meta-commands (a backslash line, or a \gset ending a statement).
func splitScript(script string) []string {
	var (
		stmts []string
		cur   strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for _, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "", strings.HasPrefix(trimmed, "--"):
			continue
		case strings.HasPrefix(trimmed, `\`):
			continue
		}
		if i := strings.Index(line, ` \gset`); i >= 0 {
			cur.WriteString(line[:i])
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			flush()
		}
	}
	flush()
	return stmts
}

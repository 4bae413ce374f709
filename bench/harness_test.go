package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/clerk"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/webhooks"
)

// The harness must produce what the service accepts, or every figure
// would measure a 401 or a 400.

// newVerifier is a Clerk of the harness's and the service's session
// verifier, trusting it.
func newVerifier(tb testing.TB) (*bench.Clerk, *clerk.SessionVerifier) {
	tb.Helper()
	fakeClerk, err := bench.NewClerk()
	if err != nil {
		tb.Fatal(err)
	}
	v, err := clerk.NewSessionVerifier(clerk.SessionConfig{JWTKey: fakeClerk.PublicPEM(), MaxTokenLifetime: bench.MaxTokenLifetime})
	if err != nil {
		tb.Fatal(err)
	}
	return fakeClerk, v
}

func TestMintedTokenVerifies(t *testing.T) {
	fakeClerk, v := newVerifier(t)
	iat := time.Now().Add(-time.Second).Truncate(time.Second)
	token, err := fakeClerk.Token("user_bench_1", iat, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Verify(context.Background(), token)
	if err != nil || s.UserID != "user_bench_1" || !s.IssuedAt.Equal(iat) {
		t.Fatalf("Verify = %+v, %v", s, err)
	}
}

func TestSvixSignatureVerifies(t *testing.T) {
	svix, err := bench.NewSvix()
	if err != nil {
		t.Fatal(err)
	}
	v, err := webhooks.NewVerifier([]string{svix.Secret()})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"user.updated","data":{}}`)
	h := http.Header{}
	if err := svix.Sign(h, "msg_1", time.Now(), body); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(body, h); err != nil {
		t.Fatal(err)
	}
}

func TestConnReadsBothFramings(t *testing.T) {
	big := strings.Repeat("x", 100_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Write([]byte("ok")) // Content-Length
		case "/big":
			w.Write([]byte(big[:50_000])) // chunked
			w.(http.Flusher).Flush()
			w.Write([]byte(big[50_000:]))
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c, err := bench.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{{"/small", 200, "ok"}, {"/big", 200, big}, {"/other", 418, ""}, {"/small", 200, "ok"}} {
		status, body, err := c.Do(bench.Request(nil, http.MethodGet, addr, tt.path, nil, nil), time.Now().Add(10*time.Second))
		if err != nil || status != tt.status || string(body) != tt.body {
			t.Errorf("GET %s = %d, %d bytes, %v; want %d, %d bytes", tt.path, status, len(body), err, tt.status, len(tt.body))
		}
	}
	if _, err := bench.Dial("example.com:80"); err == nil {
		t.Error("Dial accepted a host that is not loopback")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p50, p99 := bench.Percentile(d, 50), bench.Percentile(d, 99); p50 != 50 || p99 != 99 {
		t.Errorf("p50, p99 = %d, %d; want 50, 99", p50, p99)
	}
}

// A worker out of work stops on ErrDone, without an error; the load ends
// when every worker has, and counts what succeeded.
func TestLoadStopsOnErrDone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	l := bench.Load{
		Addr: addr, Conns: 2, Duration: time.Minute, MaxRequests: 1000, Want: http.StatusOK,
		Request: func(dst []byte, worker int, seq int64) ([]byte, error) {
			if seq == int64(3+worker) {
				return nil, bench.ErrDone
			}
			return bench.Request(dst, http.MethodGet, addr, "/", nil, nil), nil
		},
	}
	res, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded != 7 || res.Requests != 7 || res.Done != 2 || res.Errors != 0 {
		t.Errorf("succeeded %d, measured %d, done %d, errors %d; want 7, 7, 2, 0", res.Succeeded, res.Requests, res.Done, res.Errors)
	}
	if res.Elapsed >= l.Duration {
		t.Errorf("the measured window is %s: it should end at the last request, not at the deadline", res.Elapsed)
	}
}

package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersync/usersync/testkit"
)

// TestAbuse floods the server as an attacker would, from a few addresses
// behind a trusted proxy: 10,000 requests with made-up methods, unknown
// paths, random well-formed session tokens (random kid, random signature)
// and random device tokens on every ingest route, and forged webhook
// signatures. Throughout, the metric series, the limiter's buckets and the
// goroutines stay under fixed caps, no request gets a 5xx, Clerk's JWKS is
// not fetched per token, and a signed-in user's sync and a signed webhook
// delivery sent in the middle of the flood succeed.
//
// Not parallel: it counts the process's goroutines.
func TestAbuse(t *testing.T) {
	const (
		total     = 10_000
		workers   = 16
		attackers = 4
	)
	f := fcStart(t, sqliteDB(t), fcConfig{
		burst: 20, rps: 10, jwks: true, // the defaults of RATE_LIMIT_*
		proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	session := f.userSession(t, "user_legit")
	_, deviceToken := f.device(t, "user_legit")
	baseGoroutines := runtime.NumGoroutine()
	var dials atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}
	defer client.CloseIdleConnections()

	randomB64 := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// A random, well-formed session token: it parses, and fails its signature.
	randomJWT := func() string {
		header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "ins_" + randomB64(6)})
		payload, _ := json.Marshal(testkit.SessionClaims("user_" + randomB64(9)))
		enc := base64.RawURLEncoding
		return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "." + randomB64(256)
	}
	deviceTokenOf := func() string {
		const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
		b := make([]byte, 26)
		rand.Read(b)
		for i := range b {
			b[i] = crockford[b[i]&31]
		}
		return "trk_" + string(b)
	}
	webhookBody := string(whUserEvent(t, "user.updated", "user_legit", "user_legit@example.com", "Legit", "", time.Now()))
	forgedHeaders := whHeaders(t, whNewSecret(t), "msg_forged", time.Now(), []byte(webhookBody))
	point := `{"locations":[{"recorded_at":"` + rfc3339(time.Now().Add(-time.Minute)) + `","lat":1,"lon":2}]}`

	var methodSeq atomic.Int64
	kinds := []func() (*http.Request, error){
		func() (*http.Request, error) { // a made-up method, never the same twice
			return http.NewRequest(fmt.Sprintf("M%dX%s", methodSeq.Add(1), randomB64(6)), f.URL+"/"+randomB64(12), nil)
		},
		func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, f.URL+"/api/"+randomB64(16), nil)
		},
		func() (*http.Request, error) {
			r, err := http.NewRequest(http.MethodPost, f.URL+"/api/auth/sync", strings.NewReader(syncBody("user_x", "x@example.com", "")))
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+randomJWT())
			}
			return r, err
		},
		func() (*http.Request, error) {
			r, err := http.NewRequest(http.MethodGet, f.URL+"/api/devices/1", nil)
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+randomJWT())
			}
			return r, err
		},
		func() (*http.Request, error) {
			r, err := http.NewRequest(http.MethodPost, f.URL+"/api/ingest/locations?id="+deviceTokenOf(), strings.NewReader(point))
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+deviceTokenOf())
			}
			return r, err
		},
		func() (*http.Request, error) {
			return http.NewRequest(http.MethodGet, f.URL+"/api/ingest/osmand?lat=1&lon=2&id="+deviceTokenOf(), nil)
		},
		func() (*http.Request, error) {
			r, err := http.NewRequest(http.MethodPost, f.URL+"/api/webhooks/clerk", strings.NewReader(webhookBody))
			if err == nil {
				r.Header = forgedHeaders.Clone()
			}
			return r, err
		},
	}

	var (
		sent          atomic.Int64
		maxGoroutines atomic.Int64
		mu            sync.Mutex
		statuses      = map[int]int{}
		failures      []string
		wg            sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := sent.Add(1)
				if n > total {
					return
				}
				k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(kinds))))
				req, err := kinds[k.Int64()]()
				if err != nil {
					fail("build request: %v", err)
					return
				}
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", 1+(int(n)+w)%attackers))
				res, err := client.Do(req)
				if err != nil {
					fail("request %d: %v", n, err)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				statuses[res.StatusCode]++
				mu.Unlock()
				if g := int64(runtime.NumGoroutine()); g > maxGoroutines.Load() {
					maxGoroutines.Store(g) // a sample; races only lose a maximum
				}
			}
		}()
	}

	// In the middle of the flood, from an address of its own: a sync and a
	// signed webhook delivery.
	for sent.Load() < total/3 {
		time.Sleep(5 * time.Millisecond)
	}
	res := f.do(t, fcRequest{method: http.MethodPost, path: "/api/auth/sync", body: syncBody("user_legit", "user_legit@example.com", "Legit"),
		header: append(bearer(session), "X-Forwarded-For", "198.51.100.20")})
	if res.status != http.StatusOK {
		t.Errorf("sync during the flood: %d %s, want 200", res.status, res.body)
	}
	h := whHeaders(t, f.secret, "msg_during_flood", time.Now(), []byte(webhookBody))
	res = f.do(t, fcRequest{method: http.MethodPost, path: "/api/webhooks/clerk", body: webhookBody, header: []string{
		"svix-id", h.Get("svix-id"), "svix-timestamp", h.Get("svix-timestamp"), "svix-signature", h.Get("svix-signature"),
		"X-Forwarded-For", "203.0.113.1"}}) // even from an attacking address: signed deliveries are not limited
	if res.status != http.StatusOK {
		t.Errorf("webhook delivery during the flood: %d %s, want 200", res.status, res.body)
	}
	res = f.do(t, fcRequest{method: http.MethodPost, path: "/api/ingest/locations", body: point,
		header: append(bearer(deviceToken), "X-Forwarded-For", "203.0.113.2")})
	if res.status != http.StatusOK {
		t.Errorf("a known device during the flood, from an attacking address: %d %s, want 200", res.status, res.body)
	}
	wg.Wait()

	for _, msg := range failures {
		t.Error(msg)
	}
	done := 0
	for status, n := range statuses {
		done += n
		if status >= 500 {
			t.Errorf("%d answers of %d", n, status)
		}
	}
	if done != total {
		t.Errorf("%d requests answered, want %d", done, total)
	}
	if statuses[http.StatusTooManyRequests] < total/2 {
		t.Errorf("statuses %v: want most of the flood answered 429", statuses)
	}
	t.Logf("statuses: %v, over %d connections", statuses, dials.Load())

	metrics := string(f.do(t, fcRequest{method: http.MethodGet, path: "/metrics", header: []string{"X-Forwarded-For", "198.51.100.21"}}).body)
	httpSeries := len(regexp.MustCompile(`(?m)^http_requests_total\{`).FindAllString(metrics, -1))
	allSeries := len(regexp.MustCompile(`(?m)^[a-z_]+(\{[^}]*\})? `).FindAllString(metrics, -1))
	// 7 methods and OTHER, 20 routes and unmatched, and the statuses each
	// can answer: bounded by the code, whatever the traffic. This flood
	// uses far fewer.
	if httpSeries > 30 {
		t.Errorf("%d http_requests_total series, want at most 30", httpSeries)
	}
	if allSeries > 600 {
		t.Errorf("%d metric series in all, want at most 600", allSeries)
	}
	// Four attackers' addresses, two legitimate ones, the user and the device.
	if n := f.limiter.Len(); n > 8 {
		t.Errorf("%d limiter buckets, want at most 8", n)
	}
	if n := f.clerk.JWKSFetches.Load(); n > 2 {
		t.Errorf("Clerk's JWKS fetched %d times for random kids, want at most 2", n)
	}
	// Per connection: the server's, its body reader, the client's reader
	// and writer; per worker one more. Nothing per request.
	if g, limit := maxGoroutines.Load(), int64(baseGoroutines+10*workers+20); g > limit {
		t.Errorf("%d goroutines during the flood (from %d before), want at most %d", g, baseGoroutines, limit)
	}
	client.CloseIdleConnections()
	testkit.Eventually(t, 10*time.Second, "goroutines back to their number before the flood", func() bool {
		return runtime.NumGoroutine() <= baseGoroutines+12 // the pools' idle connections and cleaners
	})
	t.Logf("%d http series, %d series in all, %d buckets, %d JWKS fetches, at most %d goroutines (%d before)",
		httpSeries, allSeries, f.limiter.Len(), f.clerk.JWKSFetches.Load(), maxGoroutines.Load(), baseGoroutines)
}

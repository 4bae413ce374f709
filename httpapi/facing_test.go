package httpapi_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/tracking"
)

// The tests of docs/security.md, running usersync on the open internet: what anonymous traffic
// can and cannot make the server do. Helpers are prefixed fc.

// fcConfig is how an fcServer is built: its settings.
type fcConfig struct {
	burst        int // RATE_LIMIT_BURST; 0: no limits
	proxies      []netip.Prefix
	requireEmail bool
	origins      []string
	rps          float64 // RATE_LIMIT_RPS; 0: 0.001 a second
	jwks         bool    // sessions verified against a JWKS fetched from a fake Clerk
}

// fcServer is a testServer, the whole API over a real database as serve
// assembles it, with its limiter at hand.
type fcServer struct {
	*testServer
	key     *testkit.Key
	secret  string // the webhook signing secret
	limiter *httpapi.RateLimiter
	track   *tracking.Service
	handler http.Handler
	clerk   *testkit.FakeClerk // with cfg.jwks
}

func fcStart(t *testing.T, db *bun.DB, cfg fcConfig) *fcServer {
	t.Helper()
	key := testkit.NewKey(t, "ins_facing")
	secret := testkit.NewWebhookSecret(t)
	env := map[string]string{
		"CLERK_WEBHOOK_SIGNING_SECRET": secret,
		"CORS_ALLOWED_ORIGINS":         strings.Join(cfg.origins, ","),
		"CLERK_REQUIRE_EMAIL_CLAIM":    strconv.FormatBool(cfg.requireEmail),
	}
	var clerk *testkit.FakeClerk
	if cfg.jwks {
		clerk = testkit.StartFakeClerk(t, key)
		env["CLERK_SECRET_KEY"], env["CLERK_API_URL"] = clerk.SecretKey, clerk.APIURL()
	} else {
		env["CLERK_JWT_KEY"] = key.PublicPEM(t)
	}
	if cfg.burst > 0 {
		if cfg.rps == 0 {
			cfg.rps = 0.001
		}
		env["RATE_LIMIT_RPS"] = strconv.FormatFloat(cfg.rps, 'f', -1, 64)
		env["RATE_LIMIT_BURST"] = strconv.Itoa(cfg.burst)
	}
	var proxies []string
	for _, p := range cfg.proxies {
		proxies = append(proxies, p.String())
	}
	env["TRUSTED_PROXIES"] = strings.Join(proxies, ",")
	srv := startServer(t, db, env)
	a := srv.App
	return &fcServer{testServer: srv, key: key, secret: secret, limiter: a.Deps.RateLimiter, track: a.Tracking,
		handler: a.Handler, clerk: clerk}
}

// fcRequest is one request; header holds name, value pairs.
type fcRequest struct {
	method, path, body string
	header             []string
}

func (f *fcServer) do(t *testing.T, r fcRequest) response {
	t.Helper()
	req := httpRequest(t, r.method, f.URL+r.path, r.body)
	for i := 0; i+1 < len(r.header); i += 2 {
		req.Header.Set(r.header[i], r.header[i+1])
	}
	return f.send(t, req)
}

// statuses sends each request and returns the statuses.
func (f *fcServer) statuses(t *testing.T, reqs ...fcRequest) []int {
	t.Helper()
	var out []int
	for _, r := range reqs {
		res := f.do(t, r)
		if res.status == http.StatusTooManyRequests && res.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 429 without Retry-After", r.method, r.path)
		}
		out = append(out, res.status)
	}
	return out
}

// userSession stores user sub and returns a session token for it.
func (f *fcServer) userSession(t *testing.T, sub string) string {
	t.Helper()
	return signedInUser(t, f.users, f.key, sub)
}

// device registers a device for the stored user sub and returns its token.
func (f *fcServer) device(t *testing.T, sub string) (int64, string) {
	t.Helper()
	u, err := f.users.Get(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	d, token, err := f.track.CreateDevice(context.Background(), u.ID, tracking.NewDevice{Name: "Tracker " + sub})
	if err != nil {
		t.Fatal(err)
	}
	return d.ID, token
}

// randomDeviceToken is a well-formed ingest token that no device has.
func randomDeviceToken(t *testing.T) string {
	t.Helper()
	token, _, _, err := tracking.NewIngestToken()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// randomSessionToken is a well-formed session token of a random user,
// signed by a key the server does not know.
func randomSessionToken(t *testing.T, stranger *testkit.Key) string {
	t.Helper()
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return stranger.Sign(t, testkit.SessionClaims("user_"+base64.RawURLEncoding.EncodeToString(b)))
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

var allowedMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}

// TestBoundedLabels: made-up methods, huge ones included, and unknown
// paths add no metric series and no log values of their own: the method
// label is one of seven methods or OTHER, the route a template or
// unmatched.
func TestBoundedLabels(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{})
	var reqs []fcRequest
	for i := range 40 {
		reqs = append(reqs,
			fcRequest{method: fmt.Sprintf("M%d", i), path: fmt.Sprintf("/nope/%d", i)},
			fcRequest{method: fmt.Sprintf("X-%d", i), path: "/api/auth/sync"}) // 405
	}
	reqs = append(reqs,
		fcRequest{method: strings.Repeat("M", 100<<10), path: "/"},
		fcRequest{method: "PROPFIND", path: "/api/devices/1"},
		fcRequest{method: "get", path: "/healthz"}) // methods are case-sensitive
	got := f.statuses(t, reqs...)
	for i, status := range got {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("%.20s %s: %d, want 404 or 405", reqs[i].method, reqs[i].path, status)
		}
	}

	metrics := string(f.do(t, fcRequest{method: http.MethodGet, path: "/metrics"}).body)
	series := regexp.MustCompile(`(?m)^http_requests_total\{method="([^"]*)",route="([^"]*)",status="\d+"\}`).FindAllStringSubmatch(metrics, -1)
	if len(series) == 0 {
		t.Fatal("no http_requests_total series")
	}
	for _, s := range series {
		if !slices.Contains(allowedMethods, s[1]) {
			t.Errorf("method label %.30q, want one of %v", s[1], allowedMethods)
		}
		if s[2] != "unmatched" && !strings.HasPrefix(s[2], "/") {
			t.Errorf("route label %q", s[2])
		}
	}
	// OTHER × {unmatched, /api/auth/sync, /api/devices/{id}} × {404, 405}, and the GET of /metrics.
	if len(series) > 7 {
		t.Errorf("%d http_requests_total series from 83 requests, want at most 7:\n%v", len(series), series)
	}

	sc := bufio.NewScanner(strings.NewReader(f.logs.String()))
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Msg != "request" {
			continue
		}
		lines++
		if !slices.Contains(allowedMethods, l.Method) || (l.Route != "unmatched" && !strings.HasPrefix(l.Route, "/")) {
			t.Errorf("access log line with method %.30q, route %q", l.Method, l.Route)
		}
	}
	if lines < len(reqs) {
		t.Errorf("%d access log lines, want at least %d", lines, len(reqs))
	}
	if strings.Contains(f.logs.String(), "MMMMMMMM") || strings.Contains(metrics, "MMMMMMMM") {
		t.Error("the made-up method reached the log or the metrics")
	}
}

// TestAnonymousAnswersPassThePerIPLimit: 404 and 405 answers and CORS
// preflights take from the client IP's bucket like any anonymous request.
func TestAnonymousAnswersPassThePerIPLimit(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{burst: 3, origins: []string{"https://app.example.com"}})
	notFound := fcRequest{method: http.MethodGet, path: "/nope"}
	notAllowed := fcRequest{method: http.MethodGet, path: "/api/auth/sync"}
	made := fcRequest{method: "BREW", path: "/coffee"}
	preflight := fcRequest{method: http.MethodOptions, path: "/api/auth/sync", header: []string{
		"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST"}}
	got := f.statuses(t, notFound, notAllowed, preflight, notFound, notAllowed, made, preflight)
	if want := []int{404, 405, 204, 429, 429, 429, 429}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if n := f.limiter.Len(); n != 1 {
		t.Errorf("%d buckets, want the client IP's only", n)
	}
}

// TestFailedAuthenticationsShareTheIPBucket: random well-formed tokens —
// session tokens, device tokens, in every place a device token may come —
// and forged webhook signatures from one address all take from that
// address's one bucket: none gets a bucket of its own. A user or a device
// that does authenticate from the same address has a bucket of its own.
func TestFailedAuthenticationsShareTheIPBucket(t *testing.T) {
	t.Parallel()
	stranger := testkit.NewKey(t, "ins_facing")
	point := `{"locations":[{"recorded_at":"` + rfc3339(time.Now().Add(-time.Minute)) + `","lat":1,"lon":2}]}`
	webhookBody := string(testkit.UserEvent("user.updated", "user_wh", "wh@example.com", "W", "H", time.Now()))
	kinds := map[string]func() fcRequest{
		"session token": func() fcRequest {
			return fcRequest{method: http.MethodPost, path: "/api/auth/sync", body: syncBody("user_x", "x@example.com", ""),
				header: bearer(randomSessionToken(t, stranger))}
		},
		"device route with a session token": func() fcRequest {
			return fcRequest{method: http.MethodGet, path: "/api/devices", header: bearer(randomSessionToken(t, stranger))}
		},
		"ingest bearer": func() fcRequest {
			return fcRequest{method: http.MethodPost, path: "/api/ingest/locations", body: point, header: bearer(randomDeviceToken(t))}
		},
		"ingest bearer with a random ?id=": func() fcRequest {
			return fcRequest{method: http.MethodPost, path: "/api/ingest/locations?id=" + randomDeviceToken(t), body: point,
				header: bearer(randomDeviceToken(t))}
		},
		"osmand query": func() fcRequest {
			return fcRequest{method: http.MethodGet, path: "/api/ingest/osmand?lat=1&lon=2&id=" + randomDeviceToken(t)}
		},
		"osmand form body": func() fcRequest {
			return fcRequest{method: http.MethodPost, path: "/api/ingest/osmand", body: "lat=1&lon=2&deviceid=" + randomDeviceToken(t),
				header: []string{"Content-Type", "application/x-www-form-urlencoded"}}
		},
		"osmand JSON body": func() fcRequest {
			return fcRequest{method: http.MethodPost, path: "/api/ingest/osmand",
				body: `{"device_id":"` + randomDeviceToken(t) + `","location":{"coords":{"latitude":1,"longitude":2}}}`}
		},
		"webhook signature": func() fcRequest {
			h := testkit.SignedHeaders(t, testkit.NewWebhookSecret(t), whRandom(t, "msg_"), time.Now(), []byte(webhookBody))
			return fcRequest{method: http.MethodPost, path: "/api/webhooks/clerk", body: webhookBody, header: []string{
				"svix-id", h.Get("svix-id"), "svix-timestamp", h.Get("svix-timestamp"), "svix-signature", h.Get("svix-signature")}}
		},
	}
	for name, next := range kinds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := fcStart(t, sqliteDB(t), fcConfig{burst: 3})
			var got []int
			for range 10 {
				got = append(got, f.statuses(t, next())...)
			}
			for i, status := range got {
				if want := i >= 3; (status == http.StatusTooManyRequests) != want {
					t.Errorf("statuses = %v, want 3 refusals (401 or 400) then 429s", got)
					break
				}
			}
			if n := f.limiter.Len(); n != 1 {
				t.Errorf("%d buckets after 10 random tokens, want 1 (the IP's)", n)
			}
			// Those who authenticate are not held by their address's bucket.
			session := f.userSession(t, "user_real")
			_, token := f.device(t, "user_real")
			if res := f.do(t, fcRequest{method: http.MethodPost, path: "/api/auth/sync",
				body: syncBody("user_real", "user_real@example.com", ""), header: bearer(session)}); res.status != http.StatusOK {
				t.Errorf("a verified user from the same address: %d %s, want 200", res.status, res.body)
			}
			if res := f.do(t, fcRequest{method: http.MethodPost, path: "/api/ingest/locations", body: point,
				header: bearer(token)}); res.status != http.StatusOK {
				t.Errorf("a known device from the same address: %d %s, want 200", res.status, res.body)
			}
		})
	}
}

// TestDeviceBucketIsTheDevice: a device's bucket is keyed by the device,
// found by its token: a random ?id= beside the token does not give it a
// fresh one, and a second device has its own.
func TestDeviceBucketIsTheDevice(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{burst: 2})
	f.userSession(t, "user_dev")
	_, first := f.device(t, "user_dev")
	_, second := f.device(t, "user_dev")
	point := func(i int) string {
		return `{"locations":[{"recorded_at":"` + rfc3339(time.Now().Add(-time.Duration(i)*time.Second)) + `","lat":1,"lon":2}]}`
	}
	ingest := func(token string, i int, query string) fcRequest {
		return fcRequest{method: http.MethodPost, path: "/api/ingest/locations" + query, body: point(i), header: bearer(token)}
	}
	got := f.statuses(t,
		ingest(first, 1, ""),
		fcRequest{method: http.MethodGet, path: fmt.Sprintf("/api/ingest/osmand?id=%s&lat=1&lon=2&timestamp=%d", first, time.Now().Unix()-2)},
		ingest(first, 3, "?id="+randomDeviceToken(t)),
		ingest(first, 4, "?deviceid="+randomDeviceToken(t)),
		ingest(second, 5, ""),
	)
	if want := []int{200, 200, 429, 429, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if n := f.limiter.Len(); n != 2 {
		t.Errorf("%d buckets, want one per device", n)
	}
}

// TestProbesNeverLimited: an address that spent its bucket (25 requests
// for the OpenAPI document) still gets 200 from /healthz and /readyz, so
// a load balancer behind the same address never pulls the instance.
func TestProbesNeverLimited(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{burst: 2})
	var doc []fcRequest
	for range 25 {
		doc = append(doc, fcRequest{method: http.MethodGet, path: "/openapi.yaml"})
	}
	if got := f.statuses(t, doc...); got[len(got)-1] != http.StatusTooManyRequests {
		t.Fatalf("statuses = %v, want the bucket spent", got)
	}
	for range 30 {
		for _, path := range []string{"/healthz", "/readyz"} {
			if got := f.do(t, fcRequest{method: http.MethodGet, path: path}).status; got != http.StatusOK {
				t.Fatalf("%s: %d, want 200", path, got)
			}
		}
	}
}

// TestTrustedProxies: behind TRUSTED_PROXIES the client is the right-most
// untrusted address of X-Forwarded-For, and each client has its own bucket;
// without it the header is ignored (any client could otherwise set it to
// get a fresh bucket).
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	doc := func(xff string) fcRequest {
		return fcRequest{method: http.MethodGet, path: "/openapi.yaml", header: []string{"X-Forwarded-For", xff}}
	}
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		f := fcStart(t, sqliteDB(t), fcConfig{burst: 1, proxies: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}})
		got := f.statuses(t,
			doc("203.0.113.1"), doc("203.0.113.1"), // one client, its bucket spent
			doc("203.0.113.2"),                             // another client
			doc("203.0.113.1, 198.51.100.7"),               // the client is the right-most untrusted address
			doc("198.51.100.8, 10.1.2.3"),                  // 10.1.2.3 is a trusted proxy: the client is before it
			doc("198.51.100.8"),                            // the same client as the line above
			doc("203.0.113.9, 198.51.100.7"),               // a spoofed left part changes nothing
			doc("2001:db8:1:2::1"), doc("2001:db8:1:2::2"), // one IPv6 /64, one bucket
		)
		if want := []int{200, 429, 200, 200, 200, 429, 429, 200, 429}; !slices.Equal(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		t.Parallel()
		f := fcStart(t, sqliteDB(t), fcConfig{burst: 1})
		if got, want := f.statuses(t, doc("203.0.113.1"), doc("203.0.113.2")), []int{200, 429}; !slices.Equal(got, want) {
			t.Errorf("statuses = %v, want %v: the header must be ignored", got, want)
		}
	})
	t.Run("trusted peer, other proxies not", func(t *testing.T) {
		t.Parallel()
		// Only 10.0.0.0/8 is trusted and the peer is 127.0.0.1: the header is ignored.
		f := fcStart(t, sqliteDB(t), fcConfig{burst: 1, proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		if got, want := f.statuses(t, doc("203.0.113.1"), doc("203.0.113.2")), []int{200, 429}; !slices.Equal(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
	})
}

// TestUnknownDeviceTokenTakesNoWriteLock: on SQLite, with the one write
// lock held elsewhere, ingest requests with unknown tokens are answered
// 401 at once: the device is looked up with a read, and no write
// transaction is opened for a token that finds none.
func TestUnknownDeviceTokenTakesNoWriteLock(t *testing.T) {
	t.Parallel()
	db := sqliteDB(t)
	f := fcStart(t, db, fcConfig{})
	ctx := context.Background()
	// Open connections first: a new SQLite connection proves it can write
	// (migrations.writableConnector), which waits for the lock.
	var warm []*sql.Conn
	for range 4 {
		c, err := db.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		c.Close()
	}
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock (see migrations.Open)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "UPDATE users SET name = name"); err != nil {
		t.Fatal(err)
	}
	point := `{"locations":[{"recorded_at":"` + rfc3339(time.Now().Add(-time.Minute)) + `","lat":1,"lon":2}]}`
	for _, r := range []fcRequest{
		{method: http.MethodPost, path: "/api/ingest/locations", body: point, header: bearer(randomDeviceToken(t))},
		{method: http.MethodGet, path: "/api/ingest/osmand?lat=1&lon=2&id=" + randomDeviceToken(t)},
		{method: http.MethodGet, path: "/api/ingest/osmand?lat=1&lon=2"}, // no token at all
		{method: http.MethodPost, path: "/api/ingest/osmand", body: `[{"id":"` + randomDeviceToken(t) + `","lat":1,"lon":2}]`},
	} {
		// Were the write lock wanted, the request would wait for the busy
		// timeout (10 s) and fail with a 500.
		if res := f.do(t, r); res.status != http.StatusUnauthorized {
			t.Errorf("%s %s with the write lock held elsewhere: %d %s, want 401", r.method, r.path, res.status, res.body)
		}
	}
}

// serveBody sends a request through the handler with a body that records
// how much of it the server read.
func (f *fcServer) serveBody(t *testing.T, method, path, token, body string) (*httptest.ResponseRecorder, *httpapi.CountingBody) {
	t.Helper()
	rec := &httpapi.CountingBody{R: strings.NewReader(body)}
	req := httptest.NewRequest(method, path, nil)
	req.Body, req.ContentLength = rec, -1 // as a chunked upload: no length to refuse it by
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	return w, rec
}

// TestIngestWorkBeforeAuthentication: the device is found before the body
// is read: an unknown token costs not one byte of it. A known token's body
// is decoded with the 1000-point cap enforced as it goes: 300,000 empty
// objects are refused at the 1001st, the rest never read.
func TestIngestWorkBeforeAuthentication(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{})
	f.userSession(t, "user_work")
	_, token := f.device(t, "user_work")
	empties := `{"locations":[` + strings.TrimSuffix(strings.Repeat("{},", 300_000), ",") + `]}`

	for _, tc := range []struct {
		name, method, path, token string
	}{
		{"batch, unknown token", http.MethodPost, "/api/ingest/locations", randomDeviceToken(t)},
		{"batch, no token", http.MethodPost, "/api/ingest/locations", ""},
		{"osmand, unknown token in the query", http.MethodPost, "/api/ingest/osmand?id=" + randomDeviceToken(t), ""},
		{"osmand, unknown Bearer token", http.MethodPost, "/api/ingest/osmand", randomDeviceToken(t)},
	} {
		w, body := f.serveBody(t, tc.method, tc.path, tc.token, empties)
		if w.Code != http.StatusUnauthorized || body.N != 0 {
			t.Errorf("%s: %d after reading %d bytes of the body, want 401 before reading any", tc.name, w.Code, body.N)
		}
	}

	w, body := f.serveBody(t, http.MethodPost, "/api/ingest/locations", token, empties)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "locations: must hold 1 to 1000 points") {
		t.Errorf("300,000 empty objects: %d %s, want 400 for the point cap", w.Code, w.Body)
	}
	if body.N > 64<<10 {
		t.Errorf("read %d bytes of a %d-byte body to refuse it, want the cap enforced while decoding", body.N, len(empties))
	}

	// OsmAnd's JSON array: refused at its 1001st element too.
	res := f.do(t, fcRequest{method: http.MethodPost, path: "/api/ingest/osmand?id=" + token,
		body: "[" + strings.TrimSuffix(strings.Repeat("{},", 300_000), ",") + "]"})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "must hold at most 1000 locations") {
		t.Errorf("OsmAnd array of 300,000 empty objects: %d %s, want 400 for the cap", res.status, res.body)
	}
}

// TestRouteSimplificationBudgetHTTP: a page on which Douglas–Peucker would
// be quadratic is answered as read, "simplified": false.
func TestRouteSimplificationBudgetHTTP(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{})
	session := f.userSession(t, "user_route")
	id, token := f.device(t, "user_route")
	const n = 2000 // (n-1)(n-2)/2 ≈ 2·10⁶ distance computations: past the budget
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var points []string
	for i := range n {
		north := float64(n-i) * 10 // meters, swinging either side with shrinking amplitude
		if i%2 == 1 {
			north = -north
		}
		if i == 0 || i == n-1 {
			north = 0
		}
		points = append(points, fmt.Sprintf(`{"recorded_at":%q,"lat":%.9f,"lon":13.4}`,
			rfc3339(base.Add(time.Duration(i)*time.Second)), 52.52+north/111194.9))
	}
	for chunk := range slices.Chunk(points, 1000) {
		res := f.do(t, fcRequest{method: http.MethodPost, path: "/api/ingest/locations",
			body: `{"locations":[` + strings.Join(chunk, ",") + `]}`, header: bearer(token)})
		if res.status != http.StatusOK {
			t.Fatalf("ingest: %d %s", res.status, res.body)
		}
	}
	res := f.do(t, fcRequest{method: http.MethodGet, header: bearer(session),
		path: fmt.Sprintf("/api/locations/%d/route?from=%s&limit=%d&simplify=1", id, rfc3339(base), n)})
	var page struct {
		Count      int  `json:"count"`
		RawCount   int  `json:"raw_count"`
		Simplified bool `json:"simplified"`
	}
	res.want(t, http.StatusOK).json(t, &page)
	if page.Simplified || page.Count != n || page.RawCount != n {
		t.Errorf("page = %+v, want all %d points, not simplified", page, n)
	}
}

// TestSyncRequireEmailClaim: with CLERK_REQUIRE_EMAIL_CLAIM a token without
// an email claim is refused (403), so the stored email always comes from
// Clerk; without the setting it is accepted as before.
func TestSyncRequireEmailClaim(t *testing.T) {
	t.Parallel()
	f := fcStart(t, sqliteDB(t), fcConfig{requireEmail: true})
	sync := func(f *fcServer, c testkit.Claims, email string) response {
		return f.do(t, fcRequest{method: http.MethodPost, path: "/api/auth/sync",
			body: syncBody("user_mail", email, ""), header: bearer(f.key.Sign(t, c))})
	}
	res := sync(f, testkit.SessionClaims("user_mail"), "mail@example.com")
	wantErrorContaining(t, res, http.StatusForbidden, `{"email": "{{user.primary_email_address}}"}`)
	wantErrorContaining(t, sync(f, testkit.SessionClaims("user_mail").With("email", ""), "mail@example.com"), http.StatusForbidden, "email claim")
	wantErrorContaining(t, sync(f, testkit.SessionClaims("user_mail").With("email", "other@example.com"), "mail@example.com"),
		http.StatusForbidden, "email does not match")
	if got := wantUser(t, sync(f, testkit.SessionClaims("user_mail").With("email", "Mail@Example.com"), "mail@example.com")); got.ClerkUserID != "user_mail" {
		t.Errorf("user = %+v", got)
	}

	off := fcStart(t, sqliteDB(t), fcConfig{})
	wantUser(t, sync(off, testkit.SessionClaims("user_mail"), "mail@example.com"))
}

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
		token, _, _, _ := tracking.NewIngestToken() // crypto/rand does not fail
		return token
	}
	webhookBody := string(testkit.UserEvent("user.updated", "user_legit", "user_legit@example.com", "Legit", "", time.Now()))
	forgedHeaders := testkit.SignedHeaders(t, testkit.NewWebhookSecret(t), "msg_forged", time.Now(), []byte(webhookBody))
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
	h := testkit.SignedHeaders(t, f.secret, "msg_during_flood", time.Now(), []byte(webhookBody))
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

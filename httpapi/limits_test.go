package httpapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/testkit"
)

// limitedServer serves the API with a rate limit of burst requests.
func limitedServer(t *testing.T, key *testkit.Key, burst int, origins ...string) *testServer {
	t.Helper()
	return startServer(t, sqliteDB(t), map[string]string{
		"CLERK_JWT_KEY":        key.PublicPEM(t),
		"RATE_LIMIT_RPS":       "0.001",
		"RATE_LIMIT_BURST":     strconv.Itoa(burst),
		"CORS_ALLOWED_ORIGINS": strings.Join(origins, ","),
	})
}

// syncAs syncs the user sub with token.
func (s *testServer) syncAs(t *testing.T, token, sub string) response {
	t.Helper()
	return s.sync(t, token, syncBody(sub, sub+"@example.com", ""))
}

func TestRateLimitPerUser(t *testing.T) {
	key := testkit.NewKey(t, "ins_rl")
	srv := limitedServer(t, key, 3)
	alice, bob := key.Sign(t, testkit.SessionClaims("user_alice")), key.Sign(t, testkit.SessionClaims("user_bob"))

	for i := range 3 {
		if resp := srv.syncAs(t, alice, "user_alice"); resp.status != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i, resp.status)
		}
	}
	resp := srv.syncAs(t, alice, "user_alice")
	if resp.status != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", resp.status)
	}
	if s, err := strconv.Atoi(resp.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want whole seconds ≥ 1", resp.header.Get("Retry-After"))
	}
	// Another user has a bucket of their own.
	if resp := srv.syncAs(t, bob, "user_bob"); resp.status != http.StatusOK {
		t.Errorf("another user: %d, want 200", resp.status)
	}
	// An invalid token is still a 401, not a 429: authentication comes first.
	if resp := srv.syncAs(t, "garbage", "user_alice"); resp.status != http.StatusUnauthorized {
		t.Errorf("bad token while limited: %d, want 401", resp.status)
	}
}

// TestRateLimitPerDeviceToken: an ingest token that is not found is a
// failed authentication, and takes from the client IP's bucket, on both
// ingest routes, whichever way the token is sent: random tokens from one
// address share one bucket (401 while it lasts, then 429).
func TestRateLimitPerDeviceToken(t *testing.T) {
	srv := limitedServer(t, testkit.NewKey(t, "ins_dev"), 2)
	tokenA, tokenB := "trk_"+strings.Repeat("A", 26), "trk_"+strings.Repeat("B", 26)
	send := func(method, path, bearer string) int {
		t.Helper()
		req := httpRequest(t, method, srv.URL+path, `{"locations":[]}`)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp := srv.send(t, req)
		if resp.status == http.StatusTooManyRequests && resp.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return resp.status
	}
	got := []int{
		send(http.MethodPost, "/api/ingest/locations", tokenA),
		send(http.MethodGet, "/api/ingest/osmand?id="+tokenB+"&lat=1&lon=2", ""),
		send(http.MethodPost, "/api/ingest/osmand?deviceid="+tokenA, ""),
		send(http.MethodPost, "/api/ingest/locations", tokenB),
	}
	if want := []int{401, 401, 429, 429}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

// TestRateLimitPerIPOnPublicRoutes: the anonymous routes share the client
// IP's bucket; the probes never take from it.
func TestRateLimitPerIPOnPublicRoutes(t *testing.T) {
	srv := limitedServer(t, testkit.NewKey(t, "ins_ip"), 2)
	status := func(path string) int {
		t.Helper()
		return srv.get(t, path).status
	}
	var codes []int
	for range 3 {
		codes = append(codes, status("/openapi.yaml"))
	}
	if want := []int{200, 200, 429}; !slices.Equal(codes, want) {
		t.Errorf("statuses = %v, want %v", codes, want)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := status(path); got != http.StatusOK {
			t.Errorf("%s with the IP over its limit: %d, want 200", path, got)
		}
	}
}

func TestRateLimitOff(t *testing.T) {
	if httpapi.NewRateLimiter(0, 20, 0) != nil || httpapi.NewRateLimiter(10, 0, 0) != nil {
		t.Error("RATE_LIMIT_RPS=0 or RATE_LIMIT_BURST=0 must disable limiting")
	}
}

// TestCORS: a preflight from an allowed origin is answered; another
// origin, or a server without CORS_ALLOWED_ORIGINS, gets no CORS headers.
func TestCORS(t *testing.T) {
	key := testkit.NewKey(t, "ins_cors")
	srv := limitedServer(t, key, 100, "https://app.example.com")
	plain := limitedServer(t, key, 100)
	for _, tc := range []struct {
		name                 string
		srv                  *testServer
		method, path, origin string
		wantAllow            string
	}{
		{"preflight", srv, http.MethodOptions, "/api/auth/sync", "https://app.example.com", "https://app.example.com"},
		{"disallowed origin", srv, http.MethodGet, "/healthz", "https://evil.example.com", ""},
		{"CORS unset", plain, http.MethodGet, "/healthz", "https://app.example.com", ""},
	} {
		req := tc.srv.newRequest(t, tc.method, tc.path, "")
		req.Header.Set("Origin", tc.origin)
		if tc.method == http.MethodOptions {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		}
		res := tc.srv.send(t, req)
		if got := res.header.Get("Access-Control-Allow-Origin"); res.status >= 300 || got != tc.wantAllow {
			t.Errorf("%s: %d, Access-Control-Allow-Origin %q, want %q", tc.name, res.status, got, tc.wantAllow)
		}
	}
}

func TestMetrics(t *testing.T) {
	key := testkit.NewKey(t, "ins_metrics")
	srv := limitedServer(t, key, 100)
	metrics := srv.App.Metrics
	token := key.Sign(t, testkit.SessionClaims("user_m"))
	srv.syncAs(t, token, "user_m")
	srv.syncAs(t, token, "user_m")
	metrics.ObserveWebhook("user.created", "applied")
	metrics.ObservePruned("locations", 1000)
	metrics.ObservePruned("locations", 234)
	srv.get(t, "/api/nothing-here/secret-path-123")
	srv.get(t, "/api/devices/secret-path-456") // a template's variable, no raw path either

	text := string(srv.get(t, "/metrics").body)
	for _, want := range []string{
		`http_requests_total{method="POST",route="/api/auth/sync",status="200"} 2`,
		`http_request_duration_seconds_count{method="POST",route="/api/auth/sync",status="200"} 2`,
		`user_upserts_total{outcome="created",writer="sync"} 1`,
		`user_upserts_total{outcome="unchanged",writer="sync"} 1`,
		`webhook_deliveries_total{outcome="applied",type="user.created"} 1`,
		`pruned_total{table="locations"} 1234`,
		`pruned_total{table="webhook_events"} 0`,
		`route="unmatched"`,
		`http_requests_total{method="GET",route="/api/devices/{id}",status="401"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "secret-path-") || strings.Contains(text, token) {
		t.Error("/metrics has a raw path or a token in a label")
	}
}

func TestMetricsDatabasePool(t *testing.T) {
	srv := startServer(t, sqliteDB(t), nil)
	if !strings.Contains(string(srv.get(t, "/metrics").body), `go_sql_open_connections{db_name="usersync"}`) {
		t.Errorf("/metrics lacks the database pool figures")
	}
}

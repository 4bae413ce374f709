package httpapi_test

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/testkit"
)

// limitedServer serves the API with a rate limit of burst requests.
func limitedServer(t *testing.T, key *testkit.Key, burst int, origins ...string) *testkit.Server {
	t.Helper()
	return testkit.Start(t, sqliteDB(t), map[string]string{
		"CLERK_JWT_KEY":        key.PublicPEM(t),
		"RATE_LIMIT_RPS":       "0.001",
		"RATE_LIMIT_BURST":     strconv.Itoa(burst),
		"CORS_ALLOWED_ORIGINS": strings.Join(origins, ","),
	})
}

func doSync(t *testing.T, url, token, sub string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/auth/sync",
		strings.NewReader(`{"clerk_user_id":"`+sub+`","email":"`+sub+`@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestRateLimitPerUser(t *testing.T) {
	key := testkit.NewKey(t, "ins_rl")
	srv := limitedServer(t, key, 3)
	alice, bob := key.Sign(t, testkit.SessionClaims("user_alice")), key.Sign(t, testkit.SessionClaims("user_bob"))

	for i := range 3 {
		if resp := doSync(t, srv.URL, alice, "user_alice"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i, resp.StatusCode)
		}
	}
	resp := doSync(t, srv.URL, alice, "user_alice")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q, want whole seconds ≥ 1", resp.Header.Get("Retry-After"))
	}
	// Another user has a bucket of their own.
	if resp := doSync(t, srv.URL, bob, "user_bob"); resp.StatusCode != http.StatusOK {
		t.Errorf("another user: %d, want 200", resp.StatusCode)
	}
	// An invalid token is still a 401, not a 429: authentication comes first.
	if resp := doSync(t, srv.URL, "garbage", "user_alice"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token while limited: %d, want 401", resp.StatusCode)
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
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(`{"locations":[]}`))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		return resp.StatusCode
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
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
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

func TestCORS(t *testing.T) {
	key := testkit.NewKey(t, "ins_cors")
	srv := limitedServer(t, key, 100, "https://app.example.com")

	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/api/auth/sync", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("preflight: %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/healthz", nil)
	req.Header.Set("Origin", "https://evil.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("disallowed origin got Access-Control-Allow-Origin %q", got)
	}

	// No origins configured: no CORS headers at all.
	plain := limitedServer(t, key, 100)
	req, _ = http.NewRequest(http.MethodGet, plain.URL+"/healthz", nil)
	req.Header.Set("Origin", "https://app.example.com")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS unset but Access-Control-Allow-Origin = %q", got)
	}
}

func TestMetrics(t *testing.T) {
	key := testkit.NewKey(t, "ins_metrics")
	srv := limitedServer(t, key, 100)
	metrics := srv.App.Metrics
	token := key.Sign(t, testkit.SessionClaims("user_m"))
	doSync(t, srv.URL, token, "user_m")
	doSync(t, srv.URL, token, "user_m")
	metrics.ObserveWebhook("user.created", "applied")
	metrics.ObservePruned("locations", 1000)
	metrics.ObservePruned("locations", 234)
	http.Get(srv.URL + "/api/nothing-here/secret-path-123")
	http.Get(srv.URL + "/api/devices/secret-path-456") // a template's variable, no raw path either

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
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
	srv := testkit.Start(t, sqliteDB(t), nil)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `go_sql_open_connections{db_name="usersync"}`) {
		t.Errorf("/metrics lacks the database pool figures")
	}
}

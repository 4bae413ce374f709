package clerk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/testkit"
)

// gatedClerk is Clerk's JWKS endpoint whose key set can change and whose
// answers can be held back, to see what requests do meanwhile.
type gatedClerk struct {
	*httptest.Server
	fetches     atomic.Int64
	status      atomic.Int64 // 0: 200
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	arrived     chan struct{} // a fetch arrived

	mu   sync.Mutex
	keys []jose.JSONWebKey
	gate chan struct{} // non-nil: fetches wait until it is closed
}

func startGatedClerk(t *testing.T, keys ...*testkit.Key) *gatedClerk {
	t.Helper()
	c := &gatedClerk{arrived: make(chan struct{}, 100)}
	c.setKeys(keys...)
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fetches.Add(1)
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for {
			m := c.maxInFlight.Load()
			if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case c.arrived <- struct{}{}:
		default: // nobody is counting
		}
		c.mu.Lock()
		gate := c.gate
		c.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if s := c.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: c.keys})
	}))
	t.Cleanup(func() {
		c.release()
		c.Close()
	})
	return c
}

func (c *gatedClerk) setKeys(keys ...*testkit.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = nil
	for _, k := range keys {
		c.keys = append(c.keys, k.JWK())
	}
}

// hold makes the next fetches wait until release.
func (c *gatedClerk) hold() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = make(chan struct{})
}

func (c *gatedClerk) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

// clock is the JWKS cache's clock, moved by the test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// status is what the HTTP layer answers for a verification: 200, 401 or 503.
func status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, clerk.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, clerk.ErrInvalidSession):
		return http.StatusUnauthorized
	}
	return 0
}

// syncAs verifies a fresh token (never seen, so never cached) of key for
// user sub and returns the status a sync would get.
func syncAs(t *testing.T, v *clerk.SessionVerifier, key *testkit.Key, sub string) int {
	t.Helper()
	_, err := v.Verify(context.Background(), key.Sign(t, testkit.SessionClaims(sub)))
	return status(err)
}

// syncStatus is syncAs for goroutines other than the test's.
func syncStatus(v *clerk.SessionVerifier, token string) int {
	_, err := v.Verify(context.Background(), token)
	return status(err)
}

// startVerifier starts Clerk serving key and a verifier of its sessions
// on a clock of its own, keeping the keys an hour (CLERK_JWKS_TTL); the
// first sync, as sub, fetches them.
func startVerifier(t *testing.T, key *testkit.Key, sub string) (*gatedClerk, *clock, *clerk.SessionVerifier) {
	t.Helper()
	fc := startGatedClerk(t, key)
	clk := newClock()
	v, err := clerk.NewSessionVerifier(clerk.SessionConfig{SecretKey: "sk_test_gated", APIURL: fc.URL + "/v1", JWKSTTL: time.Hour, Now: clk.now})
	if err != nil || v == nil {
		t.Fatalf("NewSessionVerifier = %v, %v", v, err)
	}
	if got := syncAs(t, v, key, sub); got != http.StatusOK {
		t.Fatalf("first sync: %d", got)
	}
	return fc, clk, v
}

// TestJWKSExpires: keys fetched with CLERK_SECRET_KEY are used for
// CLERK_JWKS_TTL, then fetched again in the background while the cached
// ones keep serving; a key that left Clerk's set stops verifying once the
// new set is in. A failed refresh keeps the old keys (an outage of Clerk
// does not sign everyone out).
func TestJWKSExpires(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testkit.NewKey(t, "ins_old"), testkit.NewKey(t, "ins_new")
	fc, clk, v := startVerifier(t, oldKey, "user_ttl_1")
	clk.advance(59 * time.Minute)
	if got := syncAs(t, v, oldKey, "user_ttl_2"); got != http.StatusOK || fc.fetches.Load() != 1 {
		t.Fatalf("within the TTL: %d with %d fetches, want 200 with 1", got, fc.fetches.Load())
	}

	// Clerk's refresh fails: the cached key keeps working.
	fc.status.Store(http.StatusInternalServerError)
	clk.advance(2 * time.Minute)
	if got := syncAs(t, v, oldKey, "user_ttl_3"); got != http.StatusOK {
		t.Fatalf("past the TTL, refresh failing: %d, want 200 from the cached key", got)
	}
	testkit.Eventually(t, 10*time.Second, "the background refresh", func() bool { return fc.fetches.Load() == 2 })
	if got := syncAs(t, v, oldKey, "user_ttl_4"); got != http.StatusOK {
		t.Errorf("after a failed refresh: %d, want 200 from the cached key", got)
	}

	// Clerk rotated its key; past the failure back-off the next request
	// refreshes, in the background.
	fc.status.Store(0)
	fc.setKeys(newKey)
	clk.advance(clerk.JWKSFailureBackoff)
	if got := syncAs(t, v, oldKey, "user_ttl_5"); got != http.StatusOK {
		t.Errorf("the request that starts the refresh: %d, want 200 without waiting for it", got)
	}
	testkit.Eventually(t, 10*time.Second, "the rotated key", func() bool { return syncAs(t, v, newKey, "user_ttl_6") == http.StatusOK })
	if got := syncAs(t, v, oldKey, "user_ttl_7"); got != http.StatusUnauthorized {
		t.Errorf("a key that left the set: %d, want 401", got)
	}
	if n := fc.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// TestJWKSFetchNeverBlocksRequests: while a fetch hangs at Clerk, requests
// whose key is cached are answered; requests that need the fetch's result
// wait for that one fetch, never start another.
func TestJWKSFetchNeverBlocksRequests(t *testing.T) {
	t.Parallel()
	key, stranger := testkit.NewKey(t, "ins_known"), testkit.NewKey(t, "ins_stranger")
	fc, clk, v := startVerifier(t, key, "user_nb_0")
	<-fc.arrived

	// An unknown kid, a minute later, starts a fetch that hangs.
	fc.hold()
	clk.advance(2 * time.Minute)
	strangers := make(chan int, 6)
	for i := range 6 {
		sub := fmt.Sprintf("user_nb_s%d", i)
		go func(token string) { strangers <- syncStatus(v, token) }(stranger.Sign(t, testkit.SessionClaims(sub)))
	}
	select {
	case <-fc.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no JWKS fetch for an unknown kid")
	}

	known := make(chan int)
	var tokens []string
	for i := range 5 {
		tokens = append(tokens, key.Sign(t, testkit.SessionClaims(fmt.Sprintf("user_nb_%d", i+1))))
	}
	go func() {
		for _, token := range tokens {
			known <- syncStatus(v, token)
		}
	}()
	for range 5 {
		select {
		case got := <-known:
			if got != http.StatusOK {
				t.Errorf("a request with a cached key during the fetch: %d, want 200", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request with a cached key waited behind the hanging JWKS fetch")
		}
	}
	fc.release()
	for range 6 {
		if got := <-strangers; got != http.StatusUnauthorized {
			t.Errorf("an unknown kid: %d, want 401", got)
		}
	}
	if n, m := fc.fetches.Load(), fc.maxInFlight.Load(); n != 2 || m != 1 {
		t.Errorf("%d fetches, at most %d at a time; want 2, one at a time", n, m)
	}
}

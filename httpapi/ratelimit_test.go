package httpapi

import (
	"fmt"
	"hash/maphash"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestRateLimiterBucketCap: the limiter never holds more than its cap of
// buckets. Past it a new key takes the slot of a bucket not used lately,
// so a key in use keeps its state while a flood of new keys churns
// through the others, and an evicted key starts again with a full bucket.
func TestRateLimiterBucketCap(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := NewRateLimiter(1, 2, 100)
	allowed := func(key string) bool {
		ok, _ := l.allow(key, now)
		return ok
	}
	for range 2 {
		allowed("ip:192.0.2.1")
	}
	if allowed("ip:192.0.2.1") {
		t.Fatal("a third request within the burst of 2 was allowed")
	}
	for i := range 10_000 {
		allowed("ip:198.51." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
		// In use every 10 new keys: the hand (at most 8 slots a key) passes
		// it at most once in between, which only takes its second chance.
		if i%10 == 0 && allowed("ip:192.0.2.1") {
			t.Fatalf("after %d new keys the spent bucket was forgotten", i)
		}
		if n := l.Len(); n > 100 {
			t.Fatalf("%d buckets, want at most 100", n)
		}
	}
	if n := l.Len(); n != 100 {
		t.Errorf("%d buckets after 10,000 keys, want the cap, 100", n)
	}
	// The first new key was evicted long ago: a full bucket again.
	if !allowed("ip:198.51.0.0") || !allowed("ip:198.51.0.0") || allowed("ip:198.51.0.0") {
		t.Error("an evicted key did not start again with a full bucket of 2")
	}
}

// TestRateLimiterEvictsRefilledFirst: a bucket that has refilled is the
// same as a new one, so it goes before a spent one, however old.
func TestRateLimiterEvictsRefilledFirst(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := NewRateLimiter(1, 2, 3) // refills a token a second
	early := t0.Add(-5 * time.Second)
	l.allow("spent", early)
	l.allow("once-b", early) // full again by t0
	l.allow("once-c", early)
	l.allow("spent", t0) // used since: the oldest slot, but spent
	l.allow("spent", t0)
	l.allow("new-d", t0)
	l.allow("new-e", t0)
	if ok, _ := l.allow("spent", t0); ok {
		t.Error("the spent bucket was evicted before the refilled ones")
	}
	if n := l.Len(); n != 3 {
		t.Errorf("%d buckets, want 3", n)
	}
}

// TestRateLimiterRate: burst requests at once, then one per interval, with
// the wait until the next token.
func TestRateLimiterRate(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	l := NewRateLimiter(10, 3, 0)
	for i := range 3 {
		if ok, _ := l.allow("k", t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("k", t0)
	if ok || wait != 100*time.Millisecond {
		t.Errorf("4th request = %v, wait %v; want refused, 100ms", ok, wait)
	}
	if ok, _ := l.allow("k", t0.Add(100*time.Millisecond)); !ok {
		t.Error("refused after one interval")
	}
	if ok, _ := l.allow("k", t0.Add(100*time.Millisecond)); ok {
		t.Error("two requests allowed for one interval")
	}
	if got := NewRateLimiter(10, 20, 0).maxBuckets; got != DefaultMaxBuckets {
		t.Errorf("default cap %d, want %d", got, DefaultMaxBuckets)
	}
}

// BenchmarkRateLimiter is the limiter's cost per request with 1, 10,000
// and 1,000,000 live buckets (the cap set to the count): a hit on a random
// live key, and a new key, which evicts one. It also reports the memory
// one bucket holds. Both include making the key string (about 25 ns, the
// same at every size).
//
//	go test ./httpapi -run '^$' -bench RateLimiter -benchmem
func BenchmarkRateLimiter(b *testing.B) {
	for _, live := range []int{1, 10_000, 1_000_000} {
		now := time.Now()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := NewRateLimiter(1e9, 1<<30, live)
		for i := range live {
			l.allow("ip:"+strconv.Itoa(i), now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perBucket := float64(after.HeapAlloc-before.HeapAlloc) / float64(live)
		b.Run(fmt.Sprintf("hit/live=%d", live), func(b *testing.B) {
			// Keys are made in the loop: read from a slice of a million,
			// they would add the benchmark's own cache misses.
			i := 0
			for b.Loop() {
				i = (i*1103515245 + 12345) & 0x7fffffff
				l.allow("ip:"+strconv.Itoa(i%live), now)
			}
			b.ReportMetric(perBucket, "B/bucket")
		})
		b.Run(fmt.Sprintf("new-key/live=%d", live), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				l.allow("user:"+strconv.Itoa(i), now)
			}
		})
		runtime.KeepAlive(l)

		// The floor: the same look-ups in a bare map of as many entries.
		// What the limiter adds on top of it does not grow with the count.
		seed := maphash.MakeSeed()
		bare := make(map[uint64]int64, live)
		for i := range live {
			bare[maphash.String(seed, "ip:"+strconv.Itoa(i))] = int64(i)
		}
		b.Run(fmt.Sprintf("bare-map/live=%d", live), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i = (i*1103515245 + 12345) & 0x7fffffff
				bare[maphash.String(seed, "ip:"+strconv.Itoa(i%live))]++
			}
		})
	}
}

// TestClientIP: the client IP is the peer unless the peer is a trusted
// proxy; then it is the right-most X-Forwarded-For address that is not
// itself trusted.
func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.10, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proxies trustedProxies
		peer    string
		xff     []string // header lines
		want    string   // the bucket key
	}{
		{"no proxies: the peer", nil, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"untrusted peer: header ignored", trusted, "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer, one hop", trusted, "10.1.1.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted", trusted, "10.1.1.1:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped", trusted, "10.1.1.1:4000", []string{"6.6.6.6, 198.51.100.1, 192.0.2.10, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", trusted, "10.1.1.1:4000", []string{"6.6.6.6", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},
		{"every hop trusted: the left-most", trusted, "10.1.1.1:4000", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"no header: the proxy", trusted, "10.1.1.1:4000", nil, "10.1.1.1"},
		{"garbage stops the walk at the proxy that passed it", trusted, "10.1.1.1:4000", []string{"198.51.100.1, garbage, 10.2.2.2"}, "10.2.2.2"},
		{"with a port", trusted, "10.1.1.1:4000", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv4-mapped peer", trusted, "[::ffff:10.1.1.1]:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv6 client: its /64", trusted, "[2001:db8:ffff::1]:4000", []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"IPv6 in brackets with a port", trusted, "10.1.1.1:4000", []string{"[2001:db8:1:2::9]:443"}, "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, line := range tt.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			if got := tt.proxies.clientKey(r); got != tt.want {
				t.Errorf("client = %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "a load balancer", "10.0.0.0/8,,300.1.1.1"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q): no error", bad)
		}
	}
	if got, _ := ParseTrustedProxies("10.1.2.3/8"); len(got) != 1 || got[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("ParseTrustedProxies(10.1.2.3/8) = %v, want 10.0.0.0/8", got)
	}
}

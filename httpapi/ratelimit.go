package httpapi

import (
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/usersync/usersync/errs"
)

// DefaultMaxBuckets is RATE_LIMIT_MAX_BUCKETS' default. A bucket costs
// 85–100 bytes (its map entry and its slot, as BenchmarkRateLimiter
// measures), so 400,000 buckets hold at most about 40 MB, under the 50 MB
// the limiter may take.
const DefaultMaxBuckets = 400_000

// MaxBuckets is the most RATE_LIMIT_MAX_BUCKETS may be.
const MaxBuckets = 1 << 30

// clockSweep bounds the slots one eviction looks at.
const clockSweep = 8

// RateLimiter keeps one token bucket per key: a verified user, a device
// found by its token, or a client IP. It holds at most maxBuckets buckets;
// past that, a new key takes the slot of one not used lately (the CLOCK
// approximation of least recently used: a used bucket gets a second
// chance), preferring a bucket that has refilled, which is the same as a
// new one. Every request costs the same whatever the number of buckets: a
// hash and one map look-up, and an eviction looks at no more than
// clockSweep slots.
//
// It does not use golang.org/x/time/rate: a rate.Limiter is a separate
// 80-byte object with its own mutex, and a million of them would be more
// pointers to chase per request and 3× the memory. A bucket here is one
// int64 in the map's entry, GCRA's theoretical arrival time (when the
// bucket would be full again): equivalent to a token bucket of burst
// tokens refilled at rps.
type RateLimiter struct {
	interval   int64 // ns per token: 1/rps
	tolerance  int64 // ns: burst × interval, how far ahead of now tat may run
	maxBuckets int
	seeds      [2]maphash.Seed

	mu    sync.Mutex
	index map[bucketKey]bucket
	slots []bucketKey // the key of each slot, for the CLOCK hand; grows to maxBuckets
	hand  int
}

// bucketKey is a key hashed to 128 bits with random seeds: fixed-size, so
// the index holds no strings, and out of an attacker's reach to collide.
type bucketKey [2]uint64

type bucket struct {
	tat  int64 // Unix ns; the bucket is full when tat ≤ now
	slot int32
	used bool // CLOCK's reference bit
}

// NewRateLimiter returns nil when rps or burst is 0: limiting is off.
// maxBuckets 0 means DefaultMaxBuckets.
func NewRateLimiter(rps float64, burst, maxBuckets int) *RateLimiter {
	if rps <= 0 || burst <= 0 {
		return nil
	}
	if maxBuckets <= 0 {
		maxBuckets = DefaultMaxBuckets
	}
	interval := max(int64(float64(time.Second)/rps), 1)
	return &RateLimiter{
		interval: interval, tolerance: interval * int64(burst), maxBuckets: min(maxBuckets, MaxBuckets),
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		index: make(map[bucketKey]bucket),
	}
}

// Len is the number of buckets held.
func (l *RateLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.index)
}

// allow takes a token from key's bucket; when there is none it returns
// how long until there will be.
func (l *RateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	k := bucketKey{maphash.String(l.seeds[0], key), maphash.String(l.seeds[1], key)}
	t := now.UnixNano()

	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.index[k]
	if !ok {
		b = bucket{tat: t, slot: l.freeSlot(t)}
		l.slots[b.slot] = k
	}
	b.used = true
	// GCRA: allowed if, with this request, the bucket is not more than
	// burst tokens behind.
	tat := max(b.tat, t) + l.interval
	over := tat - t - l.tolerance
	if over <= 0 {
		b.tat = tat
	}
	l.index[k] = b
	if over > 0 {
		return false, time.Duration(over)
	}
	return true, 0
}

// freeSlot returns a slot for a new key: a new one below the cap, else
// the first of at most clockSweep slots from the hand whose bucket is full
// again or unused since the hand last passed, else the last one looked at.
func (l *RateLimiter) freeSlot(now int64) int32 {
	if len(l.slots) < l.maxBuckets {
		l.slots = append(l.slots, bucketKey{})
		return int32(len(l.slots) - 1)
	}
	for k := 0; ; k++ {
		i := l.hand
		l.hand = (l.hand + 1) % len(l.slots)
		key := l.slots[i]
		b := l.index[key]
		if b.tat <= now || !b.used || k == clockSweep-1 {
			delete(l.index, key)
			return int32(i)
		}
		b.used = false
		l.index[key] = b
	}
}

// limits applies the rate limits of the routes. A bucket is only ever keyed
// by what the server has verified: the user of a verified session, the
// device whose token was found, else the client IP. Anonymous requests
// (404 and 405 answers included) and failed authentications take from the
// client IP's bucket; an unverified token never gets a bucket of its own.
type limits struct {
	logger  *slog.Logger
	limiter *RateLimiter // nil: no limits
	proxies trustedProxies
}

// allow takes a token from key's bucket; over the rate it answers 429 with
// Retry-After (whole seconds, at least 1) and returns false.
func (l *limits) allow(w http.ResponseWriter, r *http.Request, key string) bool {
	ok, wait := l.limiter.allow(key, time.Now())
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait.Seconds(), 1)))))
		writeError(w, r, l.logger, errs.New(errs.TooManyRequests, "rate limit exceeded, retry later"))
	}
	return ok
}

// allowIP is allow for the client IP's bucket: an anonymous request, or
// one whose authentication failed.
func (l *limits) allowIP(w http.ResponseWriter, r *http.Request) bool {
	if l.limiter == nil {
		return true
	}
	return l.allow(w, r, "ip:"+l.proxies.clientKey(r))
}

// perIP is the middleware of the anonymous routes.
func (l *limits) perIP(next http.Handler) http.Handler {
	if l.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.allowIP(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// perUser is the middleware of session routes, after requireSession.
func (l *limits) perUser(next http.Handler) http.Handler {
	if l.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.allow(w, r, "user:"+sessionFrom(r.Context()).UserID) {
			next.ServeHTTP(w, r)
		}
	})
}

// refuse answers a failed authentication: err, or 429 once the client IP
// has spent its bucket, so that guessing tokens is limited per address.
func (l *limits) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if l.allowIP(w, r) {
		writeError(w, r, l.logger, err)
	}
}

func deviceKey(id int64) string { return "device:" + strconv.FormatInt(id, 10) }

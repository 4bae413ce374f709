package httpapi

import (
	"container/list"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxBuckets is RATE_LIMIT_MAX_BUCKETS' default. A bucket costs about
// 300 bytes (its key, a rate.Limiter, a list element and its map entry;
// BenchmarkRateLimiter reports the measured figure), so 100,000 buckets
// hold about 30 MB, under the 50 MB the service allows its limiter.
const DefaultMaxBuckets = 100_000

// RateLimiter keeps one token bucket per key: a verified user, a device
// found by its token, or a client IP. It holds at most maxBuckets buckets:
// past that, the least recently used one is dropped (its key starts again
// with a full bucket). Every operation is O(1): a map look-up and a move in
// a list, so that the cost of a request does not grow with the number of
// buckets, and no request ever sweeps the map.
type RateLimiter struct {
	rps        rate.Limit
	burst      int
	maxBuckets int
	// refill is how long an unused bucket takes to fill up again; after
	// that it is the same as a new one, so it is dropped.
	refill time.Duration

	mu      sync.Mutex
	buckets map[string]*list.Element // values are *bucket
	recent  list.List                // front: most recently used
}

type bucket struct {
	key      string
	limiter  *rate.Limiter
	lastSeen time.Time
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
	refill := time.Duration(float64(burst) / rps * float64(time.Second))
	return &RateLimiter{
		rps: rate.Limit(rps), burst: burst, maxBuckets: maxBuckets, refill: refill,
		buckets: make(map[string]*list.Element),
	}
}

// Len is the number of buckets held.
func (l *RateLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// allow takes a token from key's bucket; when there is none it returns
// how long until there will be.
func (l *RateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	b := l.bucket(key, now)
	res := b.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// bucket returns key's limiter, creating it if need be, in constant time.
func (l *RateLimiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Drop at most two buckets that refilled while unused: memory follows
	// the traffic, one step per request.
	for range 2 {
		oldest := l.recent.Back()
		if oldest == nil || now.Sub(oldest.Value.(*bucket).lastSeen) < l.refill {
			break
		}
		l.remove(oldest)
	}
	if e, ok := l.buckets[key]; ok {
		b := e.Value.(*bucket)
		b.lastSeen = now
		l.recent.MoveToFront(e)
		return b.limiter
	}
	if len(l.buckets) >= l.maxBuckets {
		l.remove(l.recent.Back())
	}
	b := &bucket{key: key, limiter: rate.NewLimiter(l.rps, l.burst), lastSeen: now}
	l.buckets[key] = l.recent.PushFront(b)
	return b.limiter
}

func (l *RateLimiter) remove(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.recent.Remove(e)
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
		writeError(w, r, l.logger, errorf(http.StatusTooManyRequests, "rate limit exceeded, retry later"))
	}
	return ok
}

// allowIP is allow for the client IP's bucket: an anonymous request, or
// one whose authentication failed.
func (l *limits) allowIP(w http.ResponseWriter, r *http.Request) bool {
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

package httpapi

import (
	"encoding/hex"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/time/rate"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// RateLimiter keeps one token bucket per key: an authenticated user, a
// device token (by hash) or a client IP. Idle buckets are swept so that
// the map does not grow without bound.
type RateLimiter struct {
	rps   rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// idleBucket is how long an unused bucket is kept; a refilled bucket is
// the same as a new one after burst/rps seconds anyway.
const idleBucket = 10 * time.Minute

// NewRateLimiter returns nil when rps or burst is 0: limiting is off.
func NewRateLimiter(rps float64, burst int) *RateLimiter {
	if rps <= 0 || burst <= 0 {
		return nil
	}
	return &RateLimiter{rps: rate.Limit(rps), burst: burst, buckets: map[string]*bucket{}, lastSweep: time.Now()}
}

// allow takes a token from key's bucket; when there is none it returns
// how long until there will be.
func (l *RateLimiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.lastSweep) > idleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{limiter: rate.NewLimiter(l.rps, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	l.mu.Unlock()

	res := b.limiter.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// limit answers 429 with Retry-After (whole seconds, at least 1) when key
// is over its rate; it reports whether the request may go on.
func (l *RateLimiter) limit(w http.ResponseWriter, key string) bool {
	ok, wait := l.allow(key)
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait.Seconds(), 1)))))
	}
	return ok
}

// clientIP is the peer address. Forwarding headers are not trusted: any
// client could set them to get a fresh bucket.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limitBy answers 429 with Retry-After when the request's key (from
// keyOf) is over its rate.
func limitBy(logger *slog.Logger, l *RateLimiter, keyOf func(*http.Request) string) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		if l == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !l.limit(w, keyOf(r)) {
				writeError(w, r, logger, errs.New(errs.TooManyRequests, "rate limit exceeded, retry later"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func byIP(r *http.Request) string { return "ip:" + clientIP(r) }

func byUser(r *http.Request) string { return "user:" + sessionFrom(r.Context()).UserID }

// byDeviceToken keys an ingest request by the device token it shows before
// its body (a Bearer header, or OsmAnd's id or deviceid in the query), by
// hash so that the limiter holds no credential. Without a well-formed token
// (junk, or a token inside an OsmAnd JSON body) it falls back to the IP.
func byDeviceToken(r *http.Request) string {
	q := r.URL.Query()
	for _, token := range []string{q.Get("id"), q.Get("deviceid"), bearerToken(r)} {
		if tracking.ValidTokenFormat(token) {
			return "device:" + hex.EncodeToString(tracking.HashToken(token))
		}
	}
	return byIP(r)
}

// Package httpapi is usersync's HTTP transport: the routes (docs/api.md,
// docs/tracking.md), their handlers, authentication, errors and middleware.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/rs/cors"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/webhooks"
)

// Deps are what the server is built from. A nil Sessions means no Clerk
// key is configured: the routes that need one answer 503.
type Deps struct {
	Logger   *slog.Logger
	DB       pinger
	Users    userService
	Sessions *clerk.SessionVerifier
	// Webhooks is the event log service; WebhookVerifier nil means no
	// signing secret is configured (the webhook route answers 503).
	Webhooks        webhookService
	WebhookVerifier *webhooks.Verifier
	// AdminToken guards /api/admin/*; empty disables those routes.
	AdminToken string
	// Metrics, if set, are served at /metrics and fed by every request.
	Metrics *Metrics
	// RateLimiter nil means no rate limiting.
	RateLimiter *RateLimiter
	// TrustedProxies (TRUSTED_PROXIES) are the peers whose X-Forwarded-For
	// names the client IP; none: the peer is the client.
	TrustedProxies []netip.Prefix
	// RequireEmailClaim (CLERK_REQUIRE_EMAIL_CLAIM) makes a sync answer 403
	// to a session token without an email claim.
	RequireEmailClaim bool
	// CORSOrigins are the allowed origins ("*" for any); none means no CORS headers.
	CORSOrigins []string
	// Tracking is the devices and locations service.
	Tracking trackingService
	// Live is the live location stream.
	Live Live
	// OsmAndSpeedUnit is the unit of the OsmAnd "speed" parameter (OSMAND_SPEED_UNIT).
	OsmAndSpeedUnit tracking.SpeedUnit
}

// userService is the users service as the routes need it.
type userService interface {
	userUpserter
	userGetter
}

// webhookService is what the webhook and admin routes need.
type webhookService interface {
	webhookDeliverer
	eventAdmin
}

// trackingService is the tracking service as the routes need it.
type trackingService interface {
	deviceStore
	routeReader
	locationIngester
	locationsDeleter
	pushRegistrar
	spanReader
	liveReader
}

// NewServer returns the whole HTTP surface of usersync.
func NewServer(deps Deps) http.Handler {
	lim := newLimits(deps)
	deps.Metrics.watchRateLimiter(deps.RateLimiter)
	return observe(deps.Logger, deps.Metrics, withCORS(deps.CORSOrigins, lim, routes(deps, lim)))
}

func newLimits(deps Deps) *limits {
	return &limits{logger: deps.Logger, limiter: deps.RateLimiter, proxies: deps.TrustedProxies}
}

// withCORS answers preflights and adds CORS headers for the allowed
// origins, with rs/cors; no origins, no CORS headers. A preflight is
// anonymous: it passes the per-IP limit.
func withCORS(origins []string, lim *limits, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	h := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-Request-Id", "If-None-Match", "Last-Event-ID"},
		ExposedHeaders: []string{"X-Request-Id", "ETag", "Location", "Retry-After"},
		MaxAge:         600,
	}).Handler(next)
	preflight := lim.perIP(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			preflight.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

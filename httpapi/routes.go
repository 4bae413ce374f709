package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/errs"
)

// routes is the whole HTTP surface of usersync, in one place. lim holds
// the rate limits: per client IP for anonymous requests (404 and 405
// included) and failed authentications, per verified user or device after.
func routes(d Deps, lim *limits) http.Handler {
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = lim.perIP(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Logger, errs.New(errs.NotFound, "not found"))
	}))
	r.MethodNotAllowedHandler = lim.perIP(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Logger, errs.New(errs.MethodNotAllowed, "method not allowed"))
	}))

	// Probes are never limited: other clients' requests must not make a
	// load balancer pull the instance.
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d.Logger, d.DB)).Methods(http.MethodGet)
	if d.Metrics != nil {
		r.Handle("/metrics", lim.perIP(d.Metrics.handler())).Methods(http.MethodGet)
	}
	r.Handle("/openapi.yaml", lim.perIP(handleOpenAPI())).Methods(http.MethodGet)

	// Session routes: the Clerk session token, then a bucket per user.
	session := func(h http.Handler) http.Handler {
		return requireSession(d.Logger, d.Sessions, lim)(lim.perUser(h))
	}
	r.Handle("/api/auth/sync", session(handleSync(d.Logger, d.Users, d.RequireEmailClaim))).Methods(http.MethodPost)

	// Devices and locations (docs/tracking.md): the signed-in user's own only.
	r.Handle("/api/devices", session(handleListDevices(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/devices", session(handleCreateDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodPost)
	r.Handle("/api/devices/{id}", session(handleGetDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/devices/{id}", session(handlePatchDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodPatch)
	r.Handle("/api/devices/{id}", session(handleDeleteDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodDelete)
	r.Handle("/api/devices/{id}/token", session(handleRotateToken(d.Logger, d.Users, d.Tracking))).Methods(http.MethodPost)
	// Server-Sent Events of the user's devices, pushed as points arrive.
	r.Handle("/api/locations/stream", session(handleLiveStream(d.Logger, d.Users, d.Tracking, d.Live, d.Metrics))).Methods(http.MethodGet)
	r.Handle("/api/locations/{deviceId}/latest", session(handleLatest(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/locations/{deviceId}/route", session(handleRoute(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/locations/{deviceId}", session(handleDeleteLocations(d.Logger, d.Users, d.Tracking))).Methods(http.MethodDelete)
	r.Handle("/api/locations/{deviceId}/export", session(handleExport(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/locations/{deviceId}/summary", session(handleSummary(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)

	// Ingest: authenticated by a device token, never a session. The handlers
	// find the device (a read) before the body, then take from its bucket.
	r.Handle("/api/ingest/locations", handleIngestLocations(d.Logger, d.Tracking, lim)).Methods(http.MethodPost)
	r.Handle("/api/ingest/osmand", handleOsmAnd(d.Logger, d.Tracking, d.OsmAndSpeedUnit, lim)).Methods(http.MethodGet, http.MethodPost)
	// OwnTracks: the token as the Basic password, and 503 for a refusal that a retry may overcome.
	r.Handle("/api/ingest/owntracks", ownTracksClient(handleOwnTracks(d.Logger, d.Tracking, lim))).Methods(http.MethodPost)

	// Public, authenticated by the Svix signature over the raw body; not
	// limited (Svix sends bursts), but a bad signature costs the IP a token.
	r.Handle("/api/webhooks/clerk", handleClerkWebhook(d.Logger, d.WebhookVerifier, d.Webhooks, lim)).Methods(http.MethodPost)

	admin := func(h http.Handler) http.Handler { return lim.perIP(requireAdmin(d.Logger, d.AdminToken)(h)) }
	r.Handle("/api/admin/webhook-events", admin(handleListEvents(d.Logger, d.Webhooks))).Methods(http.MethodGet)
	r.Handle("/api/admin/webhook-events/replay", admin(handleReplayEvents(d.Logger, d.Webhooks))).Methods(http.MethodPost)
	r.Handle("/api/admin/webhook-events/{svix_id}", admin(handleGetEvent(d.Logger, d.Webhooks))).Methods(http.MethodGet)
	r.Handle("/api/admin/webhook-events/{svix_id}/replay", admin(handleReplayEvent(d.Logger, d.Webhooks))).Methods(http.MethodPost)

	return r
}

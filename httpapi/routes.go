package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/errs"
)

// routes is the whole HTTP surface of usersync, in one place.
func routes(d Deps) http.Handler {
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Logger, errs.New(errs.NotFound, "not found"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Logger, errs.New(errs.MethodNotAllowed, "method not allowed"))
	})

	perIP := limitBy(d.Logger, d.RateLimiter, byIP)
	r.Handle("/healthz", perIP(handleHealthz())).Methods(http.MethodGet)
	r.Handle("/readyz", perIP(handleReadyz(d.Logger, d.DB))).Methods(http.MethodGet)
	if d.Metrics != nil {
		r.Handle("/metrics", perIP(d.Metrics.handler())).Methods(http.MethodGet)
	}
	r.Handle("/openapi.yaml", perIP(handleOpenAPI())).Methods(http.MethodGet)

	// Session routes: the Clerk session token, then a bucket per user.
	session := func(h http.Handler) http.Handler {
		return requireSession(d.Logger, d.Sessions)(limitBy(d.Logger, d.RateLimiter, byUser)(h))
	}
	r.Handle("/api/auth/sync", session(handleSync(d.Logger, d.Users))).Methods(http.MethodPost)

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

	// Ingest: authenticated by a device token, never a session; a bucket per token.
	perDevice := limitBy(d.Logger, d.RateLimiter, byDeviceToken)
	r.Handle("/api/ingest/locations", perDevice(handleIngestLocations(d.Logger, d.Tracking))).Methods(http.MethodPost)
	r.Handle("/api/ingest/osmand", perDevice(handleOsmAnd(d.Logger, d.Tracking, d.OsmAndSpeedUnit))).Methods(http.MethodGet, http.MethodPost)
	// OwnTracks: the token as the Basic password, and 503 for a refusal that a retry may overcome.
	r.Handle("/api/ingest/owntracks", ownTracksClient(perDevice(handleOwnTracks(d.Logger, d.Tracking)))).Methods(http.MethodPost)

	// Public, authenticated by the Svix signature over the raw body.
	r.Handle("/api/webhooks/clerk", handleClerkWebhook(d.Logger, d.WebhookVerifier, d.Webhooks)).Methods(http.MethodPost)

	admin := func(h http.Handler) http.Handler { return perIP(requireAdmin(d.Logger, d.AdminToken)(h)) }
	r.Handle("/api/admin/webhook-events", admin(handleListEvents(d.Logger, d.Webhooks))).Methods(http.MethodGet)
	r.Handle("/api/admin/webhook-events/replay", admin(handleReplayEvents(d.Logger, d.Webhooks))).Methods(http.MethodPost)
	r.Handle("/api/admin/webhook-events/{svix_id}", admin(handleGetEvent(d.Logger, d.Webhooks))).Methods(http.MethodGet)
	r.Handle("/api/admin/webhook-events/{svix_id}/replay", admin(handleReplayEvent(d.Logger, d.Webhooks))).Methods(http.MethodPost)

	return r
}

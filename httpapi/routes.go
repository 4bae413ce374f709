package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
)

// routes is the whole HTTP surface of usersync, in one place.
func routes(d Deps) http.Handler {
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Logger, errorf(http.StatusNotFound, "not found"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, d.Logger, errorf(http.StatusMethodNotAllowed, "method not allowed"))
	})

	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d.Logger, d.DB)).Methods(http.MethodGet)

	session := requireSession(d.Logger, d.Sessions)
	r.Handle("/api/auth/sync", session(handleSync(d.Logger, d.Users))).Methods(http.MethodPost)

	// Public, authenticated by the Svix signature over the raw body.
	r.Handle("/api/webhooks/clerk", handleClerkWebhook(d.Logger, d.WebhookVerifier, d.Webhooks)).Methods(http.MethodPost)

	admin := requireAdmin(d.Logger, d.AdminToken)
	r.Handle("/api/admin/webhook-events", admin(handleListEvents(d.Logger, d.Webhooks))).Methods(http.MethodGet)
	r.Handle("/api/admin/webhook-events/replay", admin(handleReplayEvents(d.Logger, d.Webhooks))).Methods(http.MethodPost)
	r.Handle("/api/admin/webhook-events/{svix_id}", admin(handleGetEvent(d.Logger, d.Webhooks))).Methods(http.MethodGet)
	r.Handle("/api/admin/webhook-events/{svix_id}/replay", admin(handleReplayEvent(d.Logger, d.Webhooks))).Methods(http.MethodPost)

	return r
}

package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/webhooks"
)

// webhookDeliverer is the webhook service as the webhook route needs it.
type webhookDeliverer interface {
	Deliver(ctx context.Context, svixID string, body []byte, receivedAt time.Time) (webhooks.Result, error)
}

// handleClerkWebhook receives Clerk's Svix-signed deliveries. The
// signature is checked over the raw body before anything is parsed; a
// verified delivery is always recorded, and a 2xx is sent only once the
// event and its effect are committed (a 500 makes Svix retry).
func handleClerkWebhook(logger *slog.Logger, verifier *webhooks.Verifier, svc webhookDeliverer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if verifier == nil {
			writeError(w, r, logger, errs.New(errs.Unavailable,
				"webhook signing secret is not configured (set CLERK_WEBHOOK_SIGNING_SECRET)"))
			return
		}
		receivedAt := time.Now()
		body, err := readBody(w, r, userBodyLimit)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if err := verifier.Verify(body, r.Header); err != nil {
			writeError(w, r, logger, err)
			return
		}
		svixID := webhooks.MessageID(r.Header)
		res, err := svc.Deliver(r.Context(), svixID, body, receivedAt)
		logger.InfoContext(r.Context(), "webhook delivery",
			"request_id", requestID(r.Context()), "svix_id", svixID, "event_type", res.Type,
			"clerk_user_id", res.ClerkUserID, "outcome", string(res.Outcome))
		if err != nil { // not a Clerk event (422, recorded as failed), or the database's (500)
			writeError(w, r, logger, err)
			return
		}
		encode(w, http.StatusOK, map[string]string{
			"svix_id": res.SvixID, "type": res.Type, "outcome": string(res.Outcome),
		})
	})
}

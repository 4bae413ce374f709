package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/webhooks"
)

// webhookBodyLimit bounds a webhook body. Clerk user objects with their
// metadata can exceed 64 KiB, and Svix retries a 413 until it gives up on
// the endpoint, so the limit is generous.
const webhookBodyLimit = 256 << 10

// webhookDeliverer is the webhook service as the webhook route needs it.
type webhookDeliverer interface {
	Deliver(ctx context.Context, svixID string, body []byte, receivedAt time.Time) (webhooks.Result, error)
}

// handleClerkWebhook receives Clerk's Svix-signed deliveries. The
// signature is checked over the raw body before anything is parsed; a
// verified delivery is always recorded, and a 2xx is sent only once the
// event and its effect are committed (a 500 makes Svix retry).
//
// The route is not rate limited (Svix sends bursts, and every delivery it
// makes is signed), but a request that fails the signature check is
// anonymous: it takes from the client IP's bucket, 429 once that is spent.
func handleClerkWebhook(logger *slog.Logger, verifier *webhooks.Verifier, svc webhookDeliverer, lim *limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if verifier == nil {
			lim.refuse(w, r, errs.New(errs.Unavailable,
				"webhook signing secret is not configured (set CLERK_WEBHOOK_SIGNING_SECRET)"))
			return
		}
		receivedAt := time.Now()
		body, err := readBody(w, r, webhookBodyLimit)
		if err != nil {
			lim.refuse(w, r, err)
			return
		}
		if err := verifier.Verify(body, r.Header); err != nil {
			lim.refuse(w, r, err)
			return
		}
		svixID := webhooks.MessageID(r.Header)
		res, err := svc.Deliver(r.Context(), svixID, body, receivedAt)
		logger.InfoContext(r.Context(), "webhook delivery",
			"request_id", requestID(r.Context()), "svix_id", svixID, "event_type", res.Type,
			"clerk_user_id", res.ClerkUserID, "outcome", string(res.Outcome))
		if err != nil { // webhooks.ErrNotClerkEvent as any other: its kind gives the status
			writeError(w, r, logger, err)
			return
		}
		encode(w, http.StatusOK, map[string]string{
			"svix_id": res.SvixID, "type": res.Type, "outcome": string(res.Outcome),
		})
	})
}

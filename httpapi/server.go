// Package httpapi is usersync's HTTP transport: the routes of the
// contract, their handlers, authentication, errors and middleware.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/usersync/usersync/webhooks"
)

// Deps are what the server is built from. A nil Sessions means no Clerk
// key is configured: the routes that need one answer 503.
type Deps struct {
	Logger   *slog.Logger
	DB       pinger
	Users    userUpserter
	Sessions *SessionVerifier
	// Webhooks is the event log service; WebhookVerifier nil means no
	// signing secret is configured (the webhook route answers 503).
	Webhooks        webhookService
	WebhookVerifier *webhooks.Verifier
	// AdminToken guards /api/admin/*; empty disables those routes.
	AdminToken string
}

// webhookService is what the webhook and admin routes need.
type webhookService interface {
	webhookDeliverer
	eventAdmin
}

// NewServer returns the whole HTTP surface of usersync.
func NewServer(deps Deps) http.Handler {
	return observe(deps.Logger, routes(deps))
}

// Package httpapi is usersync's HTTP transport: the routes of the
// contract, their handlers, authentication, errors and middleware.
package httpapi

import (
	"log/slog"
	"net/http"
)

// Deps are what the server is built from. A nil Sessions means no Clerk
// key is configured: the routes that need one answer 503.
type Deps struct {
	Logger   *slog.Logger
	DB       pinger
	Users    userUpserter
	Sessions *SessionVerifier
}

// NewServer returns the whole HTTP surface of usersync.
func NewServer(deps Deps) http.Handler {
	return observe(deps.Logger, routes(deps))
}

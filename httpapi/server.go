// Package httpapi is usersync's HTTP transport: the routes of the
// contract, their handlers, authentication, errors and middleware.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/usersync/usersync/tracking"
)

// Deps are what the server is built from. A nil Sessions means no Clerk
// key is configured: the routes that need one answer 503.
type Deps struct {
	Logger   *slog.Logger
	DB       pinger
	Users    userService
	Sessions *SessionVerifier
	Tracking trackingService
	// OsmAndSpeedUnit is the unit of the OsmAnd "speed" parameter (OSMAND_SPEED_UNIT).
	OsmAndSpeedUnit tracking.SpeedUnit
}

// userService is the users service as the routes need it.
type userService interface {
	userUpserter
	userGetter
}

// trackingService is the tracking service as the routes need it.
type trackingService interface {
	deviceStore
	routeReader
	locationIngester
}

// NewServer returns the whole HTTP surface of usersync.
func NewServer(deps Deps) http.Handler {
	return observe(deps.Logger, routes(deps))
}

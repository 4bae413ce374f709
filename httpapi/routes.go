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

	// Devices and locations (TRACKING.md): the signed-in user's own only.
	r.Handle("/api/devices", session(handleListDevices(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/devices", session(handleCreateDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodPost)
	r.Handle("/api/devices/{id}", session(handleGetDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/devices/{id}", session(handlePatchDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodPatch)
	r.Handle("/api/devices/{id}", session(handleDeleteDevice(d.Logger, d.Users, d.Tracking))).Methods(http.MethodDelete)
	r.Handle("/api/devices/{id}/token", session(handleRotateToken(d.Logger, d.Users, d.Tracking))).Methods(http.MethodPost)
	r.Handle("/api/locations/{deviceId}/latest", session(handleLatest(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)
	r.Handle("/api/locations/{deviceId}/route", session(handleRoute(d.Logger, d.Users, d.Tracking))).Methods(http.MethodGet)

	// Ingest: authenticated by a device token, never a session.
	r.Handle("/api/ingest/locations", handleIngestLocations(d.Logger, d.Tracking)).Methods(http.MethodPost)
	r.Handle("/api/ingest/osmand", handleOsmAnd(d.Logger, d.Tracking, d.OsmAndSpeedUnit)).Methods(http.MethodGet, http.MethodPost)

	return r
}

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

	return r
}

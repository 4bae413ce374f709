package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/usersync/usersync/errs"
)

// msgDatabase is the documented body for any failure of the database.
const msgDatabase = "Database error occurred"

// statuses is the one table from the error vocabulary to HTTP: no handler
// decides a status of its own. The message is the error's own (see
// errs.Message), or the kind's when it has none.
var statuses = [...]struct {
	kind   error
	status int
}{
	{errs.Invalid, http.StatusBadRequest},
	{errs.Unauthorized, http.StatusUnauthorized},
	{errs.Forbidden, http.StatusForbidden},
	{errs.NotFound, http.StatusNotFound},
	{errs.MethodNotAllowed, http.StatusMethodNotAllowed},
	{errs.Conflict, http.StatusConflict},
	{errs.Gone, http.StatusGone},
	{errs.TooLarge, http.StatusRequestEntityTooLarge},
	{errs.Unprocessable, http.StatusUnprocessableEntity},
	{errs.TooManyRequests, http.StatusTooManyRequests},
	{errs.Unavailable, http.StatusServiceUnavailable},
}

// statusOf returns the status and the client's message for err. An error
// of no kind is unexpected: a 500 with the documented database message.
func statusOf(err error) (int, string, bool) {
	for _, s := range statuses {
		if errors.Is(err, s.kind) {
			msg, ok := errs.Message(err)
			if !ok {
				msg = s.kind.Error()
			}
			return s.status, msg, true
		}
	}
	return http.StatusInternalServerError, msgDatabase, false
}

// writeError is the one place that turns an error into a status and a
// {"error": …} body. Only unexpected errors are logged: they are ours.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status, msg, expected := statusOf(err)
	if !expected {
		logger.ErrorContext(r.Context(), "request failed",
			"request_id", requestID(r.Context()), "method", r.Method, "route", routeOf(r), "err", err)
	}
	encode(w, status, map[string]string{"error": msg})
}

// apiHandler serves fn and writes the error it returns as the API's
// error; fn returns an error only while it has written nothing.
func apiHandler(logger *slog.Logger, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, logger, err)
		}
	})
}

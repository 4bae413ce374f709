package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// Error is a failure with the status and the message a client may see.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// msgDatabase is the contract's body for any failure of the database.
const msgDatabase = "Database error occurred"

// writeError is the one place that turns an error into a status and a
// {"error": …} body. Only unexpected errors are logged: they are ours.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var (
		e        *Error
		field    *tracking.FieldError
		conflict *tracking.ConflictError
	)
	switch {
	case errors.As(err, &e):
	case errors.Is(err, users.ErrGone), errors.Is(err, tracking.ErrGone):
		e = errorf(http.StatusGone, "user has been deleted")
	case errors.Is(err, users.ErrNotFound):
		e = errorf(http.StatusNotFound, "user not found")
	case errors.Is(err, users.ErrInvalid):
		e = errorf(http.StatusBadRequest, "%s", err.Error())
	case errors.Is(err, webhooks.ErrNotFound):
		e = errorf(http.StatusNotFound, "webhook event not found")
	case errors.Is(err, webhooks.ErrInvalid):
		e = errorf(http.StatusBadRequest, "%s", strings.TrimSuffix(err.Error(), ": "+webhooks.ErrInvalid.Error()))
	case errors.Is(err, tracking.ErrInvalidToken):
		w.Header().Set("WWW-Authenticate", "Bearer")
		e = errorf(http.StatusUnauthorized, "%s", tracking.ErrInvalidToken.Error())
	case errors.Is(err, tracking.ErrNotFound):
		// One body for absent, another user's and malformed ids alike.
		e = errorf(http.StatusNotFound, "device not found")
	case errors.As(err, &field):
		e = errorf(http.StatusBadRequest, "%s", field.Error())
	case errors.As(err, &conflict):
		e = errorf(http.StatusConflict, "%s", conflict.Msg)
	default:
		logger.ErrorContext(r.Context(), "request failed",
			"request_id", requestID(r.Context()), "method", r.Method, "route", routeOf(r), "err", err)
		e = errorf(http.StatusInternalServerError, msgDatabase)
	}
	encode(w, e.Status, map[string]string{"error": e.Message})
}

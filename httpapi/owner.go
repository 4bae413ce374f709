package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// userGetter is the users service as the device routes need it: the
// session's sub to the stored user.
type userGetter interface {
	Get(ctx context.Context, clerkUserID string) (users.User, error)
}

// sessionOwner returns the users.id of the signed-in user. ok is false when
// the user has no row yet (neither synced nor created by a webhook); a
// deleted user is errs.UserDeleted, a 410.
func sessionOwner(ctx context.Context, us userGetter) (id int64, ok bool, err error) {
	u, err := us.Get(ctx, sessionFrom(ctx).UserID)
	switch {
	case errors.Is(err, users.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return u.ID, true, nil
}

// errNotSynced answers a route that needs the user's row (creating a
// device, the live stream) while the user has none yet.
var errNotSynced = errs.New(errs.Conflict, "user is not synced yet: call POST /api/auth/sync first")

// deviceOwner resolves the signed-in user and the device id of the path
// parameter param. A user with no row owns no device, and a malformed id
// names none: both are tracking.ErrDeviceNotFound, answered exactly like an
// absent device or another user's.
func deviceOwner(r *http.Request, us userGetter, param string) (owner, id int64, err error) {
	owner, ok, err := sessionOwner(r.Context(), us)
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		return 0, 0, tracking.ErrDeviceNotFound
	}
	id, err = pathDeviceID(r, param)
	return owner, id, err
}

// pathDeviceID reads a device id in canonical decimal (no sign, no leading
// zero); anything else is tracking.ErrDeviceNotFound.
func pathDeviceID(r *http.Request, param string) (int64, error) {
	id, ok := canonicalID(mux.Vars(r)[param])
	if !ok {
		return 0, tracking.ErrDeviceNotFound
	}
	return id, nil
}

// canonicalID reads a positive id in canonical decimal: no sign, no
// leading zero, in range.
func canonicalID(s string) (int64, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil // an error: out of range
}

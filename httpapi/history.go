package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// locationsDeleter is the tracking service as DELETE /api/locations/{deviceId} needs it.
type locationsDeleter interface {
	DeleteLocations(ctx context.Context, ownerID, deviceID int64, r tracking.DeleteRange) (tracking.LocationsDeleted, error)
}

// handleDeleteLocations deletes the device's points in [from, to) and
// answers how many went. The checks run in the documented order: the
// parameters (400), the user (410), the device (404).
func handleDeleteLocations(logger *slog.Logger, us userGetter, ld locationsDeleter) http.Handler {
	read := func(_ http.ResponseWriter, r *http.Request) (tracking.DeleteRange, error) {
		return parseDeleteRange(r.URL.Query())
	}
	return deviceInputHandler(logger, us, "deviceId", read, func(w http.ResponseWriter, r *http.Request, owner, id int64, rng tracking.DeleteRange) error {
		res, err := ld.DeleteLocations(r.Context(), owner, id, rng)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, struct {
			Deleted int64 `json:"deleted"`
		}{res.Deleted})
		return nil
	})
}

// parseDeleteRange reads from and to and checks them: both required
// (an empty value is absent), from before to.
func parseDeleteRange(v url.Values) (tracking.DeleteRange, error) {
	var rng tracking.DeleteRange
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"from", &rng.From}, {"to", &rng.To}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		t, err := parseQueryTime(s)
		if err != nil {
			return rng, errs.Field(p.name, "must be an RFC 3339 time such as 2026-11-27T20:53:55Z")
		}
		*p.dst = &t
	}
	return rng, rng.Check()
}

package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

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
	from, to, err := parseSpanQuery(v)
	if err != nil {
		return tracking.DeleteRange{}, err
	}
	rng := tracking.DeleteRange{From: from, To: to}
	return rng, rng.Check()
}

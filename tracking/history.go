package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/txn"
)

// DeleteRange is the range of a DELETE /api/locations/{deviceId}: both
// bounds are required.
type DeleteRange struct {
	From *time.Time // inclusive
	To   *time.Time // exclusive
}

// Check returns an *errs.FieldError when a bound is missing or from is not
// before to.
func (r DeleteRange) Check() error {
	switch {
	case r.From == nil:
		return invalid("from", "required")
	case r.To == nil:
		return invalid("to", "required")
	case !r.From.Before(*r.To):
		return invalid("from", "must be before to")
	}
	return nil
}

// LocationsDeleted is what DeleteLocations changed, for the answer and for
// anyone who shows the device live.
type LocationsDeleted struct {
	DeviceID int64
	Deleted  int64 // points removed
	// LatestChanged tells that the device's newest fix was among them, so
	// that its last location is now Latest.
	LatestChanged bool
	// Latest is the device's newest fix after the delete (with its
	// ReceivedAt); nil when none is left. Meaningful when LatestChanged.
	Latest *Location
}

// DeleteLocations deletes the points of ownerID's device deviceID recorded
// in [r.From, r.To), compared at the nanosecond given as a route does. If
// the device's newest fix goes, its last location becomes the newest
// remaining point, or none, in the same transaction. The device row is
// locked first, as ingest locks it, so a concurrent ingest runs wholly
// before or after. ErrDeviceNotFound when the device is absent or another
// user's; an *errs.FieldError from r.Check.
func (s *Service) DeleteLocations(ctx context.Context, ownerID, deviceID int64, r DeleteRange) (LocationsDeleted, error) {
	if err := r.Check(); err != nil {
		return LocationsDeleted{}, err
	}
	from, to := CeilMillis(*r.From), CeilMillis(*r.To)
	out := LocationsDeleted{DeviceID: deviceID}
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Model((*deviceRow)(nil)).Column("last_recorded_at").
			Where("id = ? AND user_id = ?", deviceID, ownerID)
		if s.rowLocks() {
			q = q.For("UPDATE")
		}
		var newest *int64
		if err := q.Scan(ctx, &newest); err != nil {
			return deviceError("delete locations", deviceID, err)
		}
		res, err := tx.NewDelete().Model((*locationRow)(nil)).
			Where("device_id = ? AND recorded_at >= ? AND recorded_at < ?", deviceID, from, to).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete locations: %w", err)
		}
		if out.Deleted, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("delete locations: %w", err)
		}
		if newest == nil || *newest < from || *newest >= to {
			return nil
		}
		out.LatestChanged = true
		if out.Latest, err = recomputeLatest(ctx, tx, deviceID, s.now(), s.cfg.OnlineWindow); err != nil {
			return err
		}
		// The marker moves back: streams get the device, last location and all.
		return s.cfg.Feed.Publish(ctx, live.Change{Kind: live.Device, UserID: ownerID, DeviceID: deviceID})
	})
	if err != nil {
		return LocationsDeleted{}, err
	}
	return out, nil
}

// latestColumns pairs each column of the device's last fix with the
// column of locations it copies.
var latestColumns = [][2]string{
	{"last_recorded_at", "recorded_at"}, {"last_received_at", "received_at"},
	{"lat", "lat"}, {"lon", "lon"}, {"accuracy_m", "accuracy_m"}, {"altitude_m", "altitude_m"},
	{"speed_mps", "speed_mps"}, {"course_deg", "course_deg"}, {"battery_pct", "battery_pct"},
	{"motion", "motion"}, {"odometer_m", "odometer_m"}, {"charging", "charging"},
	{"activity", "activity"}, {"event", "event"}, {"alarm", "alarm"},
}

// recomputeLatest sets the device's last fix to its newest stored point,
// or clears it when none is left (a sub-select of no row sets NULLs), and
// returns it.
func recomputeLatest(ctx context.Context, tx bun.Tx, deviceID int64, now time.Time, window time.Duration) (*Location, error) {
	var set, get []string
	for _, c := range latestColumns {
		set = append(set, c[0])
		get = append(get, c[1])
	}
	var row deviceRow
	err := tx.NewRaw("UPDATE devices SET (?) = (SELECT ? FROM locations WHERE device_id = ? ORDER BY recorded_at DESC LIMIT 1) WHERE id = ? RETURNING *",
		bun.Safe(strings.Join(set, ", ")), bun.Safe(strings.Join(get, ", ")), deviceID, deviceID).Scan(ctx, &row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("device %d: %w", deviceID, ErrDeviceNotFound)
	case err != nil:
		return nil, fmt.Errorf("recompute the last location: %w", err)
	}
	return row.device(now, window).LastLocation, nil
}

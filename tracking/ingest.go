package tracking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/batch"
	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/txn"
)

// MaxIngestPoints caps one ingest batch.
const MaxIngestPoints = 1000

// insertChunk is how many rows one INSERT carries on SQLite: few
// statements, each of a size it parses comfortably.
const insertChunk = 250

// IngestResult is what an ingest did with its points.
type IngestResult struct {
	DeviceID   int64
	Stored     int         // new points written
	Duplicates int         // points whose (device, recorded_at) was already stored, or repeated in the batch
	Rejected   []Rejection // invalid points, dropped, by index
}

// Rejection is a point that failed validation.
type Rejection struct {
	Index int
	Err   error // an *errs.FieldError, fit for the client
}

// Ingest stores points for the device id, which Authenticate returned for
// the request's token: callers find the device with that read first, so
// that a request with an unknown token never opens a write transaction
// (on SQLite, never takes the database's one write lock). A device deleted
// since is ErrInvalidToken. Each point is normalized (Location.Normalize);
// an invalid one is reported in Rejected and dropped, never failing the
// batch. Points are keyed by (device, recorded_at) at millisecond precision
// and the first write wins, within the batch too. In the same transaction
// the device's last_seen_at becomes now, and its last fix becomes the
// newest stored point if that is newer than the fix it has. Ingest returns
// after the commit: what it reports stored is visible to every read.
//
// Concurrent ingests are committed in groups (package batch), whatever
// their devices: one transaction, and on PostgreSQL three prepared
// statements, for all the requests waiting. Two ingests of one device in
// a group are applied one after the other, in arrival order.
func (s *Service) Ingest(ctx context.Context, deviceID int64, points []Location) (IngestResult, error) {
	now := s.now()
	res := IngestResult{DeviceID: deviceID}
	fresh := make([]Location, 0, len(points))
	seen := make(map[int64]bool, len(points))
	for i, p := range points {
		if err := p.Normalize(now, s.cfg.Limits); err != nil {
			res.Rejected = append(res.Rejected, Rejection{Index: i, Err: err})
			continue
		}
		p.ReceivedAt = now.Truncate(time.Millisecond)
		key := p.RecordedAt.UnixMilli()
		if seen[key] {
			res.Duplicates++
			continue
		}
		seen[key] = true
		fresh = append(fresh, p)
	}
	// In time order, as a route reads them.
	slices.SortFunc(fresh, func(a, b Location) int { return a.RecordedAt.Compare(b.RecordedAt) })

	w := ingestWrite{deviceID: deviceID, points: fresh, seen: now.UnixMilli()}
	var (
		stored int
		err    error
	)
	if s.group != nil {
		stored, err = s.group.Do(ctx, w)
	} else {
		var n []int
		var errs []error
		n, errs, err = s.ingestAll(ctx, []ingestWrite{w})
		if err == nil {
			stored, err = n[0], errs[0]
		}
	}
	if err != nil {
		return IngestResult{}, err
	}
	res.Stored = stored
	res.Duplicates += len(fresh) - stored
	return res, nil
}

// ingestWrite is one Ingest waiting to commit: its valid points, distinct
// and in time order, and the report's time (Unix ms).
type ingestWrite struct {
	deviceID int64
	points   []Location
	seen     int64
}

// ingestAll commits ws in one transaction (batch.Apply): stored[i] is how
// many points of ws[i] were new, errs[i] is ErrInvalidToken for a device
// that is gone. The k-th write of each device goes in round k, so that
// two writes of one device are applied in arrival order, and each round
// sees the fixes the previous one left.
func (s *Service) ingestAll(ctx context.Context, ws []ingestWrite) ([]int, []error, error) {
	stored := make([]int, len(ws))
	errs := make([]error, len(ws))
	devices := make([]int64, len(ws))
	for i, w := range ws {
		devices[i] = w.deviceID
	}
	rounds := batch.Rounds(devices)
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var changes []live.Change
		for _, round := range rounds {
			var err error
			if s.rowLocks() {
				changes, err = s.ingestRound(ctx, tx, ws, round, stored, errs, changes)
			} else {
				changes, err = s.ingestEach(ctx, tx, ws, round, stored, errs, changes)
			}
			if err != nil {
				return err
			}
		}
		return s.cfg.Feed.Publish(ctx, changes...)
	})
	if err != nil {
		return nil, nil, err
	}
	return stored, errs, nil
}

// fixOf is the device's newest fix before a round: its owner and the
// recorded_at of the fix, nil if it has none.
type fixOf struct {
	userID int64
	fix    *int64
}

// change is the live change of a device whose newest fix moved to newest
// (nil: it did not), when points (ascending) were written and those whose
// recorded_at (Unix ms) is in inserted were new. The change carries its
// points: those new ones after the previous fix, up to the new one. No
// other stored point lies in that range, since the fix never moves back
// past a stored point; so they are what a read of the range would give.
func (f fixOf) change(deviceID int64, newest *locationRow, points []Location, inserted map[int64]bool) (live.Change, bool) {
	if newest == nil || f.fix != nil && newest.RecordedAt <= *f.fix {
		return live.Change{}, false // no new newest fix: nothing moves on a map
	}
	c := live.Change{Kind: live.Location, UserID: f.userID, DeviceID: deviceID, To: newest.RecordedAt}
	if f.fix != nil {
		c.From = *f.fix
	}
	var moved []Location
	for _, p := range points {
		ms := p.RecordedAt.UnixMilli()
		if ms > c.From && ms <= c.To && inserted[ms] {
			p.RecordedAt = time.UnixMilli(ms).UTC() // as stored
			moved = append(moved, p)
		}
	}
	c.Points = moved
	return c, true
}

// ingestEach applies the writes of a round one by one with bun (SQLite,
// whose one writer at a time needs no locks).
func (s *Service) ingestEach(ctx context.Context, tx bun.Tx, ws []ingestWrite, round []int, stored []int, errs []error, changes []live.Change) ([]live.Change, error) {
	for _, i := range round {
		w := ws[i]
		var prev struct {
			UserID int64  `bun:"user_id"`
			Fix    *int64 `bun:"last_recorded_at"`
		}
		err := tx.NewSelect().Model((*deviceRow)(nil)).Column("user_id", "last_recorded_at").Where("id = ?", w.deviceID).Scan(ctx, &prev)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			errs[i] = ErrInvalidToken // deleted since Authenticate
			continue
		case err != nil:
			return nil, fmt.Errorf("read last fix: %w", err)
		}
		inserted, err := insertLocations(ctx, tx, w.deviceID, w.points)
		if err != nil {
			return nil, err
		}
		stored[i] = len(inserted)
		newest := newestStored(w.deviceID, w.points, inserted)
		if err := touchDevice(ctx, tx, w.deviceID, w.seen, newest); err != nil {
			return nil, err
		}
		if c, ok := (fixOf{prev.UserID, prev.Fix}).change(w.deviceID, newest, w.points, inserted); ok {
			changes = append(changes, c)
		}
	}
	return changes, nil
}

// insertLocations inserts points (distinct recorded_at, ascending) for
// device id, skipping those already stored. It returns the recorded_at
// (Unix ms) of those it stored.
func insertLocations(ctx context.Context, tx bun.Tx, id int64, points []Location) (map[int64]bool, error) {
	stored := map[int64]bool{}
	for chunk := range slices.Chunk(points, insertChunk) {
		rows := make([]locationRow, len(chunk))
		for i, p := range chunk {
			rows[i] = newLocationRow(id, p)
		}
		var inserted []int64 // recorded_at of the rows that were new
		_, err := tx.NewInsert().
			Model(&rows).
			On("CONFLICT (device_id, recorded_at) DO NOTHING").
			Returning("recorded_at").
			Exec(ctx, &inserted)
		if err != nil {
			return nil, fmt.Errorf("insert locations: %w", err)
		}
		for _, ms := range inserted {
			stored[ms] = true
		}
	}
	return stored, nil
}

// newestStored is the newest of points (ascending) whose recorded_at
// (Unix ms) is in stored, as a row of device id; nil if none is.
func newestStored(id int64, points []Location, stored map[int64]bool) *locationRow {
	for k := len(points) - 1; k >= 0; k-- {
		if stored[points[k].RecordedAt.UnixMilli()] {
			r := newLocationRow(id, points[k])
			return &r
		}
	}
	return nil
}

// touchDevice records a report: last_seen_at becomes seen (it never moves
// back), and the last fix becomes newest if that is newer than the stored
// one, so that a late, older fix never replaces it.
func touchDevice(ctx context.Context, tx bun.Tx, id int64, seen int64, newest *locationRow) error {
	_, err := tx.NewUpdate().
		Model((*deviceRow)(nil)).
		Set("last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < ? THEN ? ELSE last_seen_at END", seen, seen).
		Where("id = ?", id).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("update last_seen_at: %w", err)
	}
	if newest == nil {
		return nil
	}
	row := deviceRow{fixColumns: newest.fix()}
	_, err = tx.NewUpdate().
		Model(&row).
		Column("last_recorded_at", "last_received_at", "lat", "lon",
			"accuracy_m", "altitude_m", "speed_mps", "course_deg", "battery_pct",
			"motion", "odometer_m", "charging", "activity", "event", "alarm").
		Where("id = ? AND (last_recorded_at IS NULL OR last_recorded_at < ?)", id, newest.RecordedAt).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("update last fix: %w", err)
	}
	return nil
}

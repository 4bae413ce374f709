package tracking

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/txn"
)

// MaxIngestPoints caps one ingest batch.
const MaxIngestPoints = 1000

// insertChunk is how many rows one INSERT carries: few round trips, and
// statements of a size both databases parse comfortably.
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
func (s *Service) Ingest(ctx context.Context, deviceID int64, points []Location) (IngestResult, error) {
	now := s.now()
	var res IngestResult
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

	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		// Locked: ingests for one device take turns, and the device cannot
		// be deleted halfway through.
		id, err := s.lockDevice(ctx, tx, deviceID)
		if err != nil {
			return err
		}
		res.DeviceID = id
		var prev struct {
			UserID int64  `bun:"user_id"`
			Fix    *int64 `bun:"last_recorded_at"`
		}
		err = tx.NewSelect().Model((*deviceRow)(nil)).Column("user_id", "last_recorded_at").Where("id = ?", id).Scan(ctx, &prev)
		if err != nil {
			return fmt.Errorf("read last fix: %w", err)
		}
		stored, newest, err := insertLocations(ctx, tx, id, fresh)
		if err != nil {
			return err
		}
		res.Stored = stored
		if err := touchDevice(ctx, tx, id, now, newest); err != nil {
			return err
		}
		if newest == nil || prev.Fix != nil && newest.RecordedAt <= *prev.Fix {
			return nil // no new newest fix: nothing moves on a map
		}
		c := live.Change{Kind: live.Location, UserID: prev.UserID, DeviceID: id, To: newest.RecordedAt}
		if prev.Fix != nil {
			c.From = *prev.Fix
		}
		return s.cfg.Feed.Publish(ctx, c)
	})
	if err != nil {
		return IngestResult{}, err
	}
	res.Duplicates += len(fresh) - res.Stored
	return res, nil
}

// lockDevice finds device id inside tx, locking its row on PostgreSQL; a
// device that is gone is ErrInvalidToken, as its token no longer works.
func (s *Service) lockDevice(ctx context.Context, tx bun.Tx, id int64) (int64, error) {
	q := tx.NewSelect().Model((*deviceRow)(nil)).Column("id").Where("id = ?", id)
	if s.rowLocks() {
		q = q.For("UPDATE")
	}
	var found int64
	err := q.Scan(ctx, &found)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, ErrInvalidToken
	case err != nil:
		return 0, fmt.Errorf("lock device: %w", err)
	}
	return found, nil
}

// insertLocations inserts points (distinct recorded_at, ascending) for
// device id, skipping those already stored. It returns how many it stored
// and the newest of them, nil if none.
func insertLocations(ctx context.Context, tx bun.Tx, id int64, points []Location) (int, *locationRow, error) {
	var (
		stored int
		newest *locationRow
	)
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
			return 0, nil, fmt.Errorf("insert locations: %w", err)
		}
		stored += len(inserted)
		if len(inserted) > 0 {
			last := slices.Max(inserted)
			i, _ := slices.BinarySearchFunc(rows, last, func(r locationRow, t int64) int { return cmp.Compare(r.RecordedAt, t) })
			newest = &rows[i]
		}
	}
	return stored, newest, nil
}

// touchDevice records a report: last_seen_at becomes now (it never moves
// back), and the last fix becomes newest if that is newer than the stored
// one, so that a late, older fix never replaces it.
func touchDevice(ctx context.Context, tx bun.Tx, id int64, now time.Time, newest *locationRow) error {
	seen := now.UnixMilli()
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

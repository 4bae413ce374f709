package retention

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/tracking"
)

// devicePage is how many devices one read of a pass looks at.
const devicePage = 1000

// fixColumns are the columns of devices that hold its last location,
// cleared when that location has expired. A test checks that they are
// every column of devices but the device's own.
var fixColumns = []string{
	"last_recorded_at", "last_received_at", "lat", "lon", "accuracy_m", "altitude_m",
	"speed_mps", "course_deg", "battery_pct", "motion", "odometer_m", "charging",
	"activity", "event", "alarm",
}

// pass is one run of the pruner over the database.
type pass struct {
	*Pruner
	db     bun.IDB // the locked connection on PostgreSQL
	dryRun bool
	sqlite bool
	start  time.Time
	// keep are the ranges of recorded_at, [from, to), of partitions due to
	// be dropped whose drop was deferred (in a dry run, of every partition
	// it would drop): their points wait for the drop rather than going, or
	// being counted, one by one.
	keep [][2]int64

	lastProgress time.Time
}

// locations removes the points recorded before r.Cutoff: on a partitioned
// table, first every partition whose points have all expired (dropped
// whole), then the rest device by device, oldest first, in batches; and
// it clears the last location of devices whose newest fix has expired.
func (p *pass) locations(ctx context.Context, r *LocationReport) error {
	cutoff := tracking.CeilMillis(r.Cutoff) // recorded_at < Cutoff exactly when < cutoff
	partitioned, err := isPartitioned(ctx, p.db)
	if err != nil {
		return err
	}
	if partitioned {
		parts, err := listPartitions(ctx, p.db)
		if err != nil {
			return err
		}
		for _, part := range parts {
			// Only when every point in it has expired: its exclusive upper
			// bound is at or before the cutoff.
			if part.Default || part.To > cutoff {
				continue
			}
			if p.dryRun {
				n, err := countRows(ctx, p.db, part.Name)
				if err != nil {
					return err
				}
				r.Dropped = append(r.Dropped, DroppedPartition{Name: part.Name, Points: n})
				p.keep = append(p.keep, [2]int64{part.From, part.To}) // counted whole
				continue
			}
			n, err := dropPartition(ctx, p.db, part.Name)
			switch {
			case errors.Is(err, errLockTimeout):
				r.Deferred = append(r.Deferred, part.Name)
				p.keep = append(p.keep, [2]int64{part.From, part.To})
				continue
			case err != nil:
				return fmt.Errorf("drop partition %s: %w", part.Name, err)
			}
			r.Dropped = append(r.Dropped, DroppedPartition{Name: part.Name, Points: n})
			p.observe(TableLocations, n)
			p.logger.Info("partition of locations dropped: every point in it had expired", "name", part.Name, "points", n)
		}
	}

	// What is left: points in the partition that holds the cutoff, in the
	// default partition, in a deferred one, or in SQLite's one table.
	for after := int64(0); ; {
		ids, last, err := p.expiredDevices(ctx, after, cutoff)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if p.dryRun {
				var n int64
				err := expired(p.db.NewSelect().TableExpr("locations").ColumnExpr("count(*)"), p.keep, "", id, cutoff).
					Scan(ctx, &n)
				if err != nil {
					return fmt.Errorf("count expired points: %w", err)
				}
				r.Deleted += n
				continue
			}
			for {
				n, err := p.deleteBatch(ctx, id, cutoff)
				if err != nil {
					return err
				}
				r.Deleted += n
				p.progress(TableLocations, r.Removed())
				if n < int64(p.cfg.BatchSize) {
					break
				}
			}
		}
		if last == 0 {
			break
		}
		after = last
	}
	n, err := p.clearExpiredFixes(ctx, cutoff)
	r.LatestCleared = n
	return err
}

// expiredDevices looks at the next page of devices after the id after
// and returns those with a point recorded before cutoff, and the last id
// of the page (0 when there are no more devices). Each check is a probe
// of the primary key, and reads never block SQLite's writer.
func (p *pass) expiredDevices(ctx context.Context, after, cutoff int64) ([]int64, int64, error) {
	var page []int64
	err := p.db.NewSelect().TableExpr("devices").Column("id").
		Where("id > ?", after).Order("id").Limit(devicePage).Scan(ctx, &page)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	if len(page) == 0 {
		return nil, 0, nil
	}
	var ids []int64
	err = p.db.NewSelect().TableExpr("devices AS d").Column("d.id").
		Where("d.id >= ? AND d.id <= ?", page[0], page[len(page)-1]).
		Where("EXISTS (?)", expired(p.db.NewSelect().TableExpr("locations AS l").ColumnExpr("1"), p.keep, "l.", bun.Safe("d.id"), cutoff)).
		Order("d.id").Scan(ctx, &ids)
	if err != nil {
		return nil, 0, fmt.Errorf("find devices with expired points: %w", err)
	}
	return ids, page[len(page)-1], nil
}

// deleteBatch deletes at most BatchSize of the device's points recorded
// before cutoff, the oldest, as one range of the primary key: the
// BatchSize-th oldest expired point bounds it. Then it yields.
func (p *pass) deleteBatch(ctx context.Context, deviceID, cutoff int64) (int64, error) {
	began := time.Now()
	bound := cutoff - 1
	err := expired(p.db.NewSelect().TableExpr("locations").Column("recorded_at"), p.keep, "", deviceID, cutoff).
		Order("recorded_at").Limit(1).Offset(int64(p.cfg.BatchSize-1)).Scan(ctx, &bound)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("bound a batch of expired points: %w", err)
	}
	res, err := expired(p.db.NewDelete().TableExpr("locations"), p.keep, "", deviceID, bound+1).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete expired points: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	p.observe(TableLocations, n)
	return n, p.yield(ctx, time.Since(began))
}

// wherer is a bun query that takes WHERE conditions.
type wherer[Q any] interface {
	Where(query string, args ...any) Q
}

// expired adds to q the condition "a point of the device recorded before
// cutoff, outside the ranges kept for a deferred drop". prefix qualifies
// the columns of locations ("" or "l."); device is a value or bun.Safe SQL.
func expired[Q wherer[Q]](q Q, keep [][2]int64, prefix string, device any, cutoff int64) Q {
	at := bun.Safe(prefix + "recorded_at")
	q = q.Where("? = ? AND ? < ?", bun.Safe(prefix+"device_id"), device, at, cutoff)
	for _, r := range keep {
		q = q.Where("NOT (? >= ? AND ? < ?)", at, r[0], at, r[1])
	}
	return q
}

// clearExpiredFixes clears the last location of every device whose newest
// fix was recorded before cutoff: its points are gone, and latest must not
// show what the route no longer has. A fix newer than the cutoff, stored
// meanwhile by ingest, is left alone by the same condition.
func (p *pass) clearExpiredFixes(ctx context.Context, cutoff int64) (int64, error) {
	if p.dryRun {
		n, err := p.db.NewSelect().TableExpr("devices").Where("last_recorded_at < ?", cutoff).Count(ctx)
		if err != nil {
			return 0, fmt.Errorf("count devices with an expired last location: %w", err)
		}
		return int64(n), nil
	}
	var total int64
	for {
		began := time.Now()
		q := p.db.NewUpdate().TableExpr("devices")
		for _, c := range fixColumns {
			q = q.Set("? = NULL", bun.Ident(c))
		}
		res, err := q.Where("id IN (SELECT id FROM devices WHERE last_recorded_at < ? ORDER BY id LIMIT ?)", cutoff, p.cfg.BatchSize).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("clear expired last locations: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(p.cfg.BatchSize) {
			return total, nil
		}
		if err := p.yield(ctx, time.Since(began)); err != nil {
			return total, err
		}
	}
}

// events removes the event-log records last received before r.Cutoff,
// oldest first, in batches.
func (p *pass) events(ctx context.Context, r *EventReport) error {
	cutoff := r.Cutoff.UTC().Truncate(time.Microsecond)
	if cutoff.Before(r.Cutoff) {
		cutoff = cutoff.Add(time.Microsecond) // stored times are whole µs
	}
	if p.dryRun {
		n, err := p.db.NewSelect().TableExpr("webhook_events").Where("last_received_at < ?", cutoff).Count(ctx)
		r.Deleted = int64(n)
		if err != nil {
			return fmt.Errorf("count expired webhook events: %w", err)
		}
		return nil
	}
	for {
		began := time.Now()
		res, err := p.db.NewDelete().TableExpr("webhook_events").
			Where("svix_id IN (SELECT svix_id FROM webhook_events WHERE last_received_at < ? ORDER BY last_received_at LIMIT ?)", cutoff, p.cfg.BatchSize).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete expired webhook events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		r.Deleted += n
		p.observe(TableWebhookEvents, n)
		p.progress(TableWebhookEvents, r.Deleted)
		if n < int64(p.cfg.BatchSize) {
			return nil
		}
		if err := p.yield(ctx, time.Since(began)); err != nil {
			return err
		}
	}
}

// yield rests between two write batches. On SQLite it gives the write
// lock away: writers waiting in SQLite's busy handler retry within a few
// milliseconds at first, so a pause as long as the batch took, and at
// least minPause, lets them in; the pass then uses at most half the
// writer's time. PostgreSQL locks rows, not the table: no pause.
func (p *pass) yield(ctx context.Context, took time.Duration) error {
	if !p.sqlite {
		return ctx.Err()
	}
	t := time.NewTimer(max(took, minPause))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *pass) observe(table string, n int64) {
	if n > 0 && !p.dryRun && p.Observer != nil {
		p.Observer(table, int(n))
	}
}

// progress logs how far a long pass has come, every progressEvery.
func (p *pass) progress(table string, removed int64) {
	now := time.Now()
	if p.lastProgress.IsZero() {
		p.lastProgress = p.start
	}
	if now.Sub(p.lastProgress) < progressEvery {
		return
	}
	p.lastProgress = now
	p.logger.Info("pruning", "table", table, "removed", removed, "elapsed_s", int(now.Sub(p.start).Seconds()))
}

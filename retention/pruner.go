// Package retention keeps history bounded: it removes points older than
// LOCATION_RETENTION and webhook event-log records older than
// WEBHOOK_EVENT_RETENTION, and on PostgreSQL it keeps the monthly
// partitions of locations, created ahead and dropped whole once every
// point in them has expired.
//
// The Pruner works in bounded batches and yields between them, so that
// it never holds ingest up for long; on PostgreSQL one replica at a time
// prunes (a session advisory lock), while every replica keeps the
// partitions it needs.
package retention

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/tracking"
)

// Tables named by the Observer, the metrics and the report.
const (
	TableLocations     = "locations"
	TableWebhookEvents = "webhook_events"
)

// Defaults of Config.
const (
	DefaultInterval       = 10 * time.Minute
	DefaultBatchSize      = 1000
	DefaultEventRetention = 90 * 24 * time.Hour // WEBHOOK_EVENT_RETENTION
	// minPause is the least a SQLite pass rests between two write batches.
	minPause = 10 * time.Millisecond
	// progressEvery spaces the progress lines of a long pass.
	progressEvery = 10 * time.Second
)

// Advisory lock keys (the first of two int4 keys; the second is the hash
// of the schema, so that deployments in two schemas of one database do
// not hold each other up).
const (
	pruneLockKey     = 0x75737270 // "usrp": one replica prunes at a time
	partitionLockKey = 0x75737274 // "usrt": one creates partitions at a time
)

// ErrBusy is returned by Pass when another process is pruning the same
// PostgreSQL database right now.
var ErrBusy = errors.New("another process is pruning this database now")

// Config holds the retention settings. A zero retention keeps that
// history forever.
type Config struct {
	// LocationRetention removes points whose recorded_at is older (LOCATION_RETENTION).
	LocationRetention time.Duration
	// EventRetention removes event-log records whose last_received_at is
	// older (WEBHOOK_EVENT_RETENTION).
	EventRetention time.Duration
	// LocationMaxAge is the oldest recorded_at that ingest accepts
	// (LOCATION_MAX_AGE): partitions exist from there on. Default
	// tracking.DefaultMaxAge.
	LocationMaxAge time.Duration
	// Interval is the time between two passes of Run; default 10 minutes.
	Interval time.Duration
	// BatchSize bounds the rows one statement deletes; default 1000.
	BatchSize int
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Pruner removes expired history. Make one with New.
type Pruner struct {
	db     *bun.DB
	cfg    Config
	logger *slog.Logger

	// Observer, if set, is told the rows each batch removed, by table
	// (TableLocations, TableWebhookEvents), as they go: it feeds the
	// pruned_total metric. Dry runs tell it nothing. Set it before use.
	Observer func(table string, n int)
}

// New returns a Pruner of db.
func New(db *bun.DB, cfg Config, logger *slog.Logger) *Pruner {
	if cfg.LocationMaxAge <= 0 {
		cfg.LocationMaxAge = tracking.DefaultMaxAge
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pruner{db: db, cfg: cfg, logger: logger}
}

func (p *Pruner) now() time.Time { return p.cfg.Now().UTC() }

// locationCutoff is the recorded_at below which points have expired; ok
// is false when points are kept forever.
func (p *Pruner) locationCutoff(now time.Time) (cutoff time.Time, ok bool) {
	if p.cfg.LocationRetention <= 0 {
		return time.Time{}, false
	}
	return now.Add(-p.cfg.LocationRetention), true
}

// Run prunes every Interval until ctx is done: each replica keeps the
// partitions it needs, and whichever takes the lock runs the pass (the
// others skip it). The first pass starts at once. Failures are logged and
// tried again at the next tick; Run returns when ctx is done, promptly:
// the statement in flight is cancelled with it.
func (p *Pruner) Run(ctx context.Context) {
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		if _, err := p.EnsurePartitions(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn("partitions of locations not created; points for a month without one go to its default partition until the next try", "err", err)
		}
		_, err := p.Pass(ctx, false)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrBusy):
			p.logger.Debug("prune pass skipped: another replica is pruning")
		case err != nil:
			p.logger.Error("prune pass failed; trying again at the next one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// EnsurePartitions creates, on PostgreSQL, the monthly partitions of
// locations that a point may land in now and for monthsAhead months:
// from LOCATION_MAX_AGE ago (or the retention cutoff, if that is later)
// to ten minutes from now, plus the months ahead. It returns the names it
// created; on SQLite, or on a locations table that is not partitioned,
// it does nothing. serve calls it before it listens; Run, at every tick.
func (p *Pruner) EnsurePartitions(ctx context.Context) ([]string, error) {
	ok, err := isPartitioned(ctx, p.db)
	if err != nil || !ok {
		return nil, err
	}
	from, to := p.coverage(p.now())
	created, err := ensureMonths(ctx, p.db, from, to)
	if len(created) > 0 {
		p.logger.Info("partitions of locations created", "names", created)
	}
	return created, err
}

// coverage is the span of recorded_at that must have partitions at now.
func (p *Pruner) coverage(now time.Time) (from, to time.Time) {
	from = now.Add(-p.cfg.LocationMaxAge)
	if cutoff, ok := p.locationCutoff(now); ok && cutoff.After(from) {
		from = cutoff
	}
	to = monthOf(now.Add(tracking.DefaultMaxFuture)).AddDate(0, monthsAhead, 0)
	return from, to
}

// Report is what one pass removed, or would remove in a dry run.
type Report struct {
	DryRun    bool
	Locations LocationReport
	Events    EventReport
}

// LocationReport is the locations part of a Report.
type LocationReport struct {
	Enabled bool      // LOCATION_RETENTION is set
	Cutoff  time.Time // points recorded before it have expired
	// Dropped are the whole partitions dropped (PostgreSQL): every point
	// in them had expired.
	Dropped []DroppedPartition
	// Deleted counts the expired points deleted in batches (those not in a
	// partition that could be dropped whole).
	Deleted int64
	// LatestCleared counts the devices whose last location had expired and
	// was cleared with the points.
	LatestCleared int64
	// Deferred are partitions due to be dropped whose lock was not granted
	// in time; the next pass drops them.
	Deferred []string
}

// Removed is every point removed.
func (r LocationReport) Removed() int64 {
	n := r.Deleted
	for _, d := range r.Dropped {
		n += d.Points
	}
	return n
}

// DroppedPartition is a partition dropped whole, with the points it held.
type DroppedPartition struct {
	Name   string
	Points int64
}

// EventReport is the event-log part of a Report.
type EventReport struct {
	Enabled bool      // WEBHOOK_EVENT_RETENTION is set
	Cutoff  time.Time // records last received before it have expired
	Deleted int64
}

// Pass runs one pass now: it removes expired points and event-log
// records (or, with dryRun, counts what it would remove and changes
// nothing). On PostgreSQL it holds the pruning lock for the pass and
// returns ErrBusy at once if another process has it. It does not create
// partitions; EnsurePartitions does.
func (p *Pruner) Pass(ctx context.Context, dryRun bool) (Report, error) {
	rep := Report{DryRun: dryRun}
	now := p.now()
	db, unlock, err := p.lock(ctx)
	if err != nil {
		return rep, err
	}
	defer unlock()

	run := &pass{Pruner: p, db: db, dryRun: dryRun, sqlite: migrations.DialectOf(db) == migrations.SQLite, start: time.Now()}
	if cutoff, ok := p.locationCutoff(now); ok {
		rep.Locations = LocationReport{Enabled: true, Cutoff: cutoff}
		if err := run.locations(ctx, &rep.Locations); err != nil {
			return rep, err
		}
	}
	if p.cfg.EventRetention > 0 {
		rep.Events = EventReport{Enabled: true, Cutoff: now.Add(-p.cfg.EventRetention)}
		if err := run.events(ctx, &rep.Events); err != nil {
			return rep, err
		}
	}
	if !dryRun && (rep.Locations.Removed() > 0 || rep.Events.Deleted > 0 || rep.Locations.LatestCleared > 0) {
		p.logger.Info("prune pass done",
			"locations_removed", rep.Locations.Removed(), "partitions_dropped", len(rep.Locations.Dropped),
			"latest_cleared", rep.Locations.LatestCleared, "webhook_events_removed", rep.Events.Deleted,
			"took_ms", time.Since(run.start).Milliseconds())
	}
	if len(rep.Locations.Deferred) > 0 {
		p.logger.Warn("partitions past retention not dropped: their lock was not granted in time; the next pass tries again",
			"names", rep.Locations.Deferred)
	}
	return rep, nil
}

// lock takes the pruning lock: on PostgreSQL a session advisory lock on
// a connection of its own, which the pass then uses for every statement
// (so that losing the connection ends the pass rather than leaving it
// unlocked); on SQLite nothing, as one process owns the file.
func (p *Pruner) lock(ctx context.Context) (bun.IDB, func(), error) {
	if migrations.DialectOf(p.db) != migrations.Postgres {
		return p.db, func() {}, nil
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: connect: %w", err)
	}
	var got bool
	if err := conn.NewRaw("SELECT pg_try_advisory_lock(?, hashtext(current_schema()))", pruneLockKey).Scan(ctx, &got); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("prune: take the lock: %w", err)
	}
	if !got {
		conn.Close()
		return nil, nil, ErrBusy
	}
	return conn, func() {
		// Unlock even when ctx is done; a connection that cannot unlock is
		// discarded, which ends its session and so the lock.
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?, hashtext(current_schema()))", pruneLockKey)
		if err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

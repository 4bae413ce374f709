package retention_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
)

// monthOf is the first instant of t's month, UTC.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// TestPruneLocations: a pass removes exactly the points recorded before
// now − LOCATION_RETENTION, whatever partition or table holds them; on
// PostgreSQL a partition goes whole only once every point in it has
// expired (its upper bound at or before the cutoff) and the rest go in
// batches; a device whose newest fix expired loses its last location; a
// dry run reports the same and changes nothing.
func TestPruneLocations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		ctx := context.Background()
		const keep = 40 * day
		// The cutoff of the final pass falls on the first instant of month M.
		m := monthOf(time.Now().AddDate(0, -3, 0))
		now := m.Add(keep)
		setup, _ := newPruner(db, retention.Config{LocationMaxAge: 400 * day}, now)
		if _, err := setup.EnsurePartitions(ctx); err != nil {
			t.Fatal(err)
		}

		a, _ := device(t, db, "user_a") // points on both sides of the cutoff
		b, _ := device(t, db, "user_b") // only expired points
		c, _ := device(t, db, "user_c") // only fresh points
		e, _ := device(t, db, "user_e") // one point, exactly at the final cutoff
		seed(t, db, e, m)
		var aAt []time.Time
		for i := range 121 {
			aAt = append(aAt, now.Add(-time.Duration(i)*day-time.Duration(i)*time.Minute))
		}
		aAt = append(aAt, m.Add(-2*time.Millisecond), m.Add(-time.Millisecond), m, m.Add(time.Millisecond))
		aAt = append(aAt, now.Add(-500*day)) // before every partition: the default one holds it
		seed(t, db, a, aAt...)
		var bAt, cAt []time.Time
		for i := range 50 {
			bAt = append(bAt, now.Add(-50*day-time.Duration(i)*day))
			cAt = append(cAt, now.Add(-time.Duration(i)*5*time.Hour))
		}
		seed(t, db, b, bAt...)
		seed(t, db, c, cAt...)
		aMs := func(from time.Time) []int64 {
			var out []int64
			for _, at := range aAt {
				if ms := at.UnixMilli(); ms >= from.UnixMilli() {
					out = append(out, ms)
				}
			}
			slices.Sort(out)
			return out
		}
		cMs := stored(t, db, c)
		if isPostgres(db) {
			if got := partitionOf(t, db, a, now.Add(-500*day).UnixMilli()); got != "locations_default" {
				t.Fatalf("a point older than every partition is in %s, want the default partition", got)
			}
		}

		// Pass 1, one millisecond before: the cutoff is M − 1 ms, so the
		// partition of the month before M still holds a point at or after
		// it and stays; its older points go one by one.
		cutoff1 := m.Add(-time.Millisecond)
		p1, seen := newPruner(db, retention.Config{LocationRetention: keep, BatchSize: 7}, now.Add(-time.Millisecond))
		before := countAll(t, db, "locations")
		dry, err := p1.Pass(ctx, true)
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if got := countAll(t, db, "locations"); got != before || seen.get(retention.TableLocations) != 0 {
			t.Fatalf("a dry run removed %d points and told the observer %d", before-got, seen.get(retention.TableLocations))
		}
		rep, err := p1.Pass(ctx, false)
		if err != nil {
			t.Fatalf("pass 1: %v", err)
		}
		removed := before - countAll(t, db, "locations")
		if !rep.Locations.Enabled || !rep.Locations.Cutoff.Equal(cutoff1) || rep.Locations.Removed() != int64(removed) {
			t.Errorf("pass 1 reports %d removed at cutoff %v, %d were", rep.Locations.Removed(), rep.Locations.Cutoff, removed)
		}
		if seen.get(retention.TableLocations) != removed {
			t.Errorf("the observer was told %d, %d were removed", seen.get(retention.TableLocations), removed)
		}
		if dry.Locations.Removed() != rep.Locations.Removed() || dry.Locations.LatestCleared != rep.Locations.LatestCleared ||
			!cmp.Equal(dry.Locations.Dropped, rep.Locations.Dropped) {
			t.Errorf("the dry run said %+v, the pass did %+v", dry.Locations, rep.Locations)
		}
		if diff := cmp.Diff(aMs(cutoff1), stored(t, db, a)); diff != "" {
			t.Errorf("device a after pass 1 (-want +got):\n%s", diff)
		}
		if got := stored(t, db, b); len(got) != 0 {
			t.Errorf("device b keeps %d expired points", len(got))
		}
		if diff := cmp.Diff(cMs, stored(t, db, c)); diff != "" {
			t.Errorf("device c lost fresh points (-want +got):\n%s", diff)
		}
		if rep.Locations.LatestCleared != 1 {
			t.Errorf("%d last locations cleared, want 1 (device b's)", rep.Locations.LatestCleared)
		}
		wantNoFix(t, db, b)
		wantFix(t, db, a, now.UnixMilli())
		wantFix(t, db, c, cMs[len(cMs)-1])

		prevMonth := m.AddDate(0, -1, 0)
		if isPostgres(db) {
			parts := partitions(t, db)
			for name, r := range parts {
				if name != "locations_default" && r[1] <= cutoff1.UnixMilli() {
					t.Errorf("partition %s [%d, %d) survives, every point in it expired", name, r[0], r[1])
				}
			}
			if _, ok := parts[monthName(prevMonth)]; !ok {
				t.Errorf("partition %s was dropped while it held a point not expired", monthName(prevMonth))
			}
			if len(rep.Locations.Dropped) == 0 {
				t.Error("no partition dropped")
			}
			for _, d := range rep.Locations.Dropped {
				if _, ok := parts[d.Name]; ok {
					t.Errorf("%s reported dropped but still there", d.Name)
				}
			}
			if rep.Locations.Deleted == 0 {
				t.Error("nothing deleted row by row: the month before M and the default partition had expired points")
			}
		}

		// Pass 2 at the cutoff M: the month before M is all expired now and
		// goes whole (one point in it); on SQLite that point is deleted.
		p2, _ := newPruner(db, retention.Config{LocationRetention: keep, BatchSize: 7}, now)
		rep, err = p2.Pass(ctx, false)
		if err != nil {
			t.Fatalf("pass 2: %v", err)
		}
		if isPostgres(db) {
			want := []retention.DroppedPartition{{Name: monthName(prevMonth), Points: 1}}
			if diff := cmp.Diff(want, rep.Locations.Dropped); diff != "" || rep.Locations.Deleted != 0 {
				t.Errorf("pass 2 dropped (-want +got):\n%s\nand deleted %d one by one, want 0", diff, rep.Locations.Deleted)
			}
			if got := partitionOf(t, db, a, m.UnixMilli()); got != monthName(m) {
				t.Errorf("the point at the cutoff is in %s, want %s", got, monthName(m))
			}
		} else if rep.Locations.Removed() != 1 {
			t.Errorf("pass 2 removed %d, want the one point at M − 1 ms", rep.Locations.Removed())
		}
		if diff := cmp.Diff(aMs(m), stored(t, db, a)); diff != "" {
			t.Errorf("device a after pass 2 (-want +got):\n%s", diff)
		}

		wantFix(t, db, e, m.UnixMilli())
		if got := stored(t, db, e); len(got) != 1 {
			t.Errorf("the point exactly at the cutoff went: %v left", got)
		}

		// Nothing is left to do.
		rep, err = p2.Pass(ctx, false)
		if err != nil || rep.Locations.Removed() != 0 || rep.Locations.LatestCleared != 0 {
			t.Errorf("pass 3 = %+v, %v; want nothing removed", rep.Locations, err)
		}
	})
}

// deviceColumns are the columns of devices that are the device's own, not
// its last fix: everything else must be cleared with an expired fix.
var deviceColumns = map[string]bool{
	"id": true, "user_id": true, "name": true, "hardware_id": true, "token_hash": true, "token_hint": true,
	"last_seen_at": true, "push_token": true, "created_at": true, "updated_at": true,
}

// wantNoFix checks that every column of the device's last fix is null.
func wantNoFix(t *testing.T, db *bun.DB, device int64) {
	t.Helper()
	row := map[string]any{}
	if err := db.NewRaw("SELECT * FROM devices WHERE id = ?", device).Scan(context.Background(), &row); err != nil {
		t.Fatal(err)
	}
	for col, v := range row {
		if !deviceColumns[col] && v != nil {
			t.Errorf("device %d: %s = %v after its last location expired, want null", device, col, v)
		}
	}
	if row["last_seen_at"] == nil && row["name"] == nil {
		t.Errorf("device %d lost its own columns", device)
	}
}

// wantFix checks the device's last fix is the point recorded at ms.
func wantFix(t *testing.T, db *bun.DB, device, ms int64) {
	t.Helper()
	var got *int64
	if err := db.NewRaw("SELECT last_recorded_at FROM devices WHERE id = ?", device).Scan(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	if got == nil || *got != ms {
		t.Errorf("device %d: last fix at %v, want %d", device, got, ms)
	}
}

// TestPruneNothingWhenUnset: without LOCATION_RETENTION points are kept
// forever, and a zero event retention keeps the event log.
func TestPruneNothingWhenUnset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		now := time.Now().UTC()
		d, _ := device(t, db, "user_old")
		seed(t, db, d, now.Add(-3000*day), now.Add(-300*day))
		seedEvents(t, db, now.Add(-3000*day))
		p, _ := newPruner(db, retention.Config{}, now)
		rep, err := p.Pass(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Locations.Enabled || rep.Events.Enabled || len(stored(t, db, d)) != 2 || countAll(t, db, "webhook_events") != 1 {
			t.Errorf("pass without retention: %+v; %d points, %d events left", rep, len(stored(t, db, d)), countAll(t, db, "webhook_events"))
		}
	})
}

// seedEvents stores one event-log record last received at each time.
func seedEvents(t *testing.T, db *bun.DB, at ...time.Time) []string {
	t.Helper()
	var ids []string
	for i, ts := range at {
		id := "msg_" + ts.Format("20060102T150405.000000") + "_" + string(rune('a'+i%26))
		_, err := db.NewRaw(`INSERT INTO webhook_events (svix_id, type, payload, outcome, attempts, first_received_at, last_received_at)
			VALUES (?, 'user.updated', '{}', 'applied', 1, ?, ?)`, id, ts.Add(-time.Hour), ts).Exec(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestPruneWebhookEvents: records whose last delivery is older than
// WEBHOOK_EVENT_RETENTION go, in batches; a record redelivered since
// stays, however old its first delivery.
func TestPruneWebhookEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		const keep = 90 * day
		cutoff := now.Add(-keep)
		var old []time.Time
		for i := range 11 {
			old = append(old, cutoff.Add(-time.Duration(i)*time.Hour-time.Microsecond))
		}
		gone := seedEvents(t, db, old...)
		kept := seedEvents(t, db, cutoff, cutoff.Add(time.Microsecond), now.Add(-time.Minute))
		// First delivered long ago, last delivered within the retention.
		_, err := db.NewRaw(`INSERT INTO webhook_events (svix_id, type, payload, outcome, attempts, first_received_at, last_received_at)
			VALUES ('msg_redelivered', 'user.updated', '{}', 'applied', 2, ?, ?)`, now.Add(-400*day), now.Add(-day)).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, "msg_redelivered")

		p, seen := newPruner(db, retention.Config{EventRetention: keep, BatchSize: 3}, now)
		dry, err := p.Pass(ctx, true)
		if err != nil || dry.Events.Deleted != int64(len(gone)) || countAll(t, db, "webhook_events") != len(gone)+len(kept) {
			t.Fatalf("dry run = %+v, %v; want %d counted and nothing removed", dry.Events, err, len(gone))
		}
		rep, err := p.Pass(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Events.Enabled || rep.Events.Deleted != int64(len(gone)) || seen.get(retention.TableWebhookEvents) != len(gone) {
			t.Errorf("pass = %+v, observer %d; want %d deleted", rep.Events, seen.get(retention.TableWebhookEvents), len(gone))
		}
		var left []string
		if err := db.NewRaw("SELECT svix_id FROM webhook_events ORDER BY svix_id").Scan(ctx, &left); err != nil {
			t.Fatal(err)
		}
		slices.Sort(kept)
		if diff := cmp.Diff(kept, left); diff != "" {
			t.Errorf("records left (-want +got):\n%s", diff)
		}
	})
}

// TestOneReplicaPrunes: on PostgreSQL a pass holds a lock for its
// database schema; a second process's pass meanwhile is ErrBusy and
// removes nothing.
func TestOneReplicaPrunes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		if !isPostgres(db) {
			t.Skip("SQLite is one process")
		}
		t.Parallel()
		ctx := context.Background()
		now := time.Now().UTC()
		d, _ := device(t, db, "user_lock")
		seed(t, db, d, now.Add(-30*day))
		p, _ := newPruner(db, retention.Config{LocationRetention: day}, now)

		release := retention.HoldLockForTest(t, db)
		if _, err := p.Pass(ctx, false); !errors.Is(err, retention.ErrBusy) {
			t.Errorf("a pass while another holds the lock: %v, want ErrBusy", err)
		}
		if len(stored(t, db, d)) != 1 {
			t.Error("a busy pass removed points")
		}
		release()
		if _, err := p.Pass(ctx, false); err != nil {
			t.Errorf("a pass after the lock was released: %v", err)
		}
		if len(stored(t, db, d)) != 0 {
			t.Error("the pass after the release removed nothing")
		}
	})
}

// backlog is how many expired points the SQLite tests below give the
// pruner: some hundreds of batches.
const backlog = 20_000

// seedBacklog stores n points of device, one a second, all a year old, in
// one statement.
func seedBacklog(t *testing.T, db *bun.DB, device int64, n int) {
	t.Helper()
	from := time.Now().Add(-365 * day).UnixMilli()
	_, err := db.NewRaw(`WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g + 1 < ?)
		INSERT INTO locations (device_id, recorded_at, received_at, lat, lon) SELECT ?, ? + g * 1000, ? + g * 1000, 52.5, 13.4 FROM s`,
		n, device, from, from).Exec(context.Background())
	if err != nil {
		t.Fatalf("seed %d points: %v", n, err)
	}
}

// backlogPass is a pruner about to work through a backlog of expired
// points on a SQLite database of its own: the backlog is the device old's;
// the pruner's Observer counts into seen and closes started at its first
// batch.
type backlogPass struct {
	db      *bun.DB
	old     int64
	p       *retention.Pruner
	seen    *counter
	started chan struct{}
}

func newBacklogPass(t *testing.T) *backlogPass {
	t.Helper()
	b := &backlogPass{db: dbtest.Open(t, dbtest.SQLiteURL(t)), started: make(chan struct{})}
	b.old, _ = device(t, b.db, "user_backlog")
	seedBacklog(t, b.db, b.old, backlog)
	b.p, b.seen = newPruner(b.db, retention.Config{LocationRetention: 30 * day, BatchSize: 100}, time.Now())
	var once sync.Once
	b.p.Observer = func(table string, n int) {
		b.seen.observe(table, n)
		once.Do(func() { close(b.started) })
	}
	return b
}

// TestIngestWhilePruning: on SQLite, where one writer writes at a time,
// the pruner gives the write lock away between batches: ingests made
// while it deletes a large backlog complete while the backlog is still
// being deleted, rather than after it.
func TestIngestWhilePruning(t *testing.T) {
	t.Parallel()
	b := newBacklogPass(t)
	ctx := context.Background()
	id, _ := device(t, b.db, "user_live")
	svc := tracking.NewService(b.db, tracking.Config{})

	var (
		passDone atomic.Bool
		passErr  error
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, passErr = b.p.Pass(ctx, false)
		passDone.Store(true)
	}()
	<-b.started

	const ingests = 5
	var worst time.Duration
	for i := range ingests {
		began := time.Now()
		res, err := svc.Ingest(ctx, id, []tracking.Location{{RecordedAt: time.Now().Add(-time.Duration(i+1) * time.Second), Lat: 52.5, Lon: 13.4}})
		took := time.Since(began)
		worst = max(worst, took)
		if err != nil || res.Stored != 1 {
			t.Fatalf("ingest %d while pruning: %+v, %v", i, res, err)
		}
		if passDone.Load() {
			t.Fatalf("ingest %d completed only after the pass had deleted the whole backlog (%d of %d points; it waited %v)",
				i, b.seen.get(retention.TableLocations), backlog, took)
		}
	}
	pruned := b.seen.get(retention.TableLocations)
	wg.Wait()
	if passErr != nil {
		t.Fatal(passErr)
	}
	t.Logf("%d ingests while the pruner had deleted %d of %d points; the slowest took %v", ingests, pruned, backlog, worst)
	if n := len(stored(t, b.db, b.old)); n != 0 {
		t.Errorf("%d expired points left after the pass", n)
	}
}

// TestRunStopsWhenCancelled: Run ends when its context does, even in the
// middle of a pass over a large backlog, so that shutdown is not held up.
func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	b := newBacklogPass(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.p.Run(ctx)
	}()
	<-b.started
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if n := len(stored(t, b.db, b.old)); n == 0 {
		t.Error("the pass ran to the end: it did not stop when cancelled")
	}
}

// TestPruneCutoffBetweenStoredUnits: a cutoff that falls inside a stored
// unit (the millisecond of recorded_at, the microsecond of
// last_received_at) still removes what was recorded or received before
// it, in that very unit, and keeps the next unit.
func TestPruneCutoffBetweenStoredUnits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		ctx := context.Background()
		const keep = 30 * day
		m := time.Now().UTC().Add(-keep).Truncate(time.Millisecond)
		cutoff := m.Add(500*time.Microsecond + 500*time.Nanosecond) // within ms m and within µs m+500µs
		d, _ := device(t, db, "user_fraction")
		seed(t, db, d, m, m.Add(time.Millisecond))
		gone := seedEvents(t, db, m.Add(500*time.Microsecond))
		kept := seedEvents(t, db, m.Add(501*time.Microsecond))

		p, _ := newPruner(db, retention.Config{LocationRetention: keep, EventRetention: keep}, cutoff.Add(keep))
		rep, err := p.Pass(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Locations.Cutoff.Equal(cutoff) || !rep.Events.Cutoff.Equal(cutoff) {
			t.Fatalf("cutoffs %v and %v, want %v", rep.Locations.Cutoff, rep.Events.Cutoff, cutoff)
		}
		if diff := cmp.Diff([]int64{m.Add(time.Millisecond).UnixMilli()}, stored(t, db, d)); diff != "" {
			t.Errorf("points left (-want +got):\n%s", diff)
		}
		var left []string
		if err := db.NewRaw("SELECT svix_id FROM webhook_events ORDER BY svix_id").Scan(ctx, &left); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(kept, left); diff != "" {
			t.Errorf("records left, %v expected gone (-want +got):\n%s", gone, diff)
		}
	})
}

package retention_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
)

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

// sqliteDB is a migrated SQLite database of its own.
func sqliteDB(t *testing.T) *bun.DB { return dbtest.Open(t, dbtest.SQLiteURL(t)) }

// TestIngestWhilePruning: on SQLite, where one writer writes at a time,
// the pruner gives the write lock away between batches: ingests made
// while it deletes a large backlog complete while the backlog is still
// being deleted, rather than after it.
func TestIngestWhilePruning(t *testing.T) {
	t.Parallel()
	db := sqliteDB(t)
	ctx := context.Background()
	old, _ := device(t, db, "user_backlog")
	seedBacklog(t, db, old, backlog)
	id, _ := device(t, db, "user_live")
	svc := tracking.NewService(db, tracking.Config{})

	p, seen := newPruner(db, retention.Config{LocationRetention: 30 * day, BatchSize: 100}, time.Now())
	started := make(chan struct{})
	var once sync.Once
	p.Observer = func(table string, n int) {
		seen.observe(table, n)
		once.Do(func() { close(started) })
	}
	var (
		passDone atomic.Bool
		passErr  error
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, passErr = p.Pass(ctx, false)
		passDone.Store(true)
	}()
	<-started

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
				i, seen.get(retention.TableLocations), backlog, took)
		}
	}
	pruned := seen.get(retention.TableLocations)
	wg.Wait()
	if passErr != nil {
		t.Fatal(passErr)
	}
	t.Logf("%d ingests while the pruner had deleted %d of %d points; the slowest took %v", ingests, pruned, backlog, worst)
	if n := len(stored(t, db, old)); n != 0 {
		t.Errorf("%d expired points left after the pass", n)
	}
}

// TestRunStopsWhenCancelled: Run ends when its context does, even in the
// middle of a pass over a large backlog, so that shutdown is not held up.
func TestRunStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	db := sqliteDB(t)
	old, _ := device(t, db, "user_backlog")
	seedBacklog(t, db, old, backlog)

	p, _ := newPruner(db, retention.Config{LocationRetention: 30 * day, BatchSize: 100}, time.Now())
	started := make(chan struct{})
	var once sync.Once
	p.Observer = func(string, int) { once.Do(func() { close(started) }) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if n := len(stored(t, db, old)); n == 0 {
		t.Error("the pass ran to the end: it did not stop when cancelled")
	}
}

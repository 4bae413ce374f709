package dbtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Lock holds a write lock on table (on SQLite, the database's one write
// lock) in a transaction of its own, so that writers wait, until unlock is
// called or the test ends. Held past SQLite's busy timeout (10 s), the
// waiting writers fail.
func Lock(t *testing.T, db *bun.DB, table string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE takes the write lock
	if err != nil {
		t.Fatalf("lock %s: %v", table, err)
	}
	if db.Dialect().Name() == dialect.PG {
		if _, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN EXCLUSIVE MODE"); err != nil {
			_ = tx.Rollback()
			t.Fatalf("lock %s: %v", table, err)
		}
	}
	unlock = sync.OnceFunc(func() { _ = tx.Rollback() })
	t.Cleanup(unlock)
	return unlock
}

// Group makes calls reach a committer of grouped writes (package batch)
// as one group; load is the committer's Load, workers how many groups it
// commits at once. With table locked, Group starts workers fill calls one
// at a time, each taken by a worker of its own that then waits for the
// lock; then it starts calls one at a time, each queued (every worker is
// busy) before the next starts, so that they arrive in their order, and
// unlocks once all of them wait. The first worker done with its fill call
// takes the whole queue. Group returns when every call has returned; fill
// calls must write to table.
func Group(t *testing.T, db *bun.DB, table string, workers int, load func() (waiting, busy int), fill func(i int), calls ...func()) {
	t.Helper()
	if w, b := load(); w != 0 || b != 0 {
		t.Fatalf("the committer is in use already: %d waiting, %d workers", w, b)
	}
	unlock := Lock(t, db, table)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { fill(i) })
		waitFor(t, "a fill call taken by a worker", func() bool {
			w, b := load()
			return w == 0 && b == i+1
		})
	}
	for i, call := range calls {
		wg.Go(call)
		waitFor(t, "a call waiting", func() bool {
			w, _ := load()
			return w == i+1
		})
	}
	unlock()
	wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

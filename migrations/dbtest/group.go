package dbtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// Refuse makes the database refuse every insert into table whose column
// is value, as a failing write: the statement fails, and with it the
// transaction of the group that holds it.
func Refuse(t *testing.T, db *bun.DB, table, column, value string) {
	t.Helper()
	stmts := []string{fmt.Sprintf(`CREATE TRIGGER refuse_%[1]s BEFORE INSERT ON %[1]s
WHEN NEW.%[2]s = '%[3]s' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`, table, column, value)}
	if db.Dialect().Name() == dialect.PG {
		stmts = []string{
			fmt.Sprintf(`CREATE FUNCTION refuse_%[1]s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.%[2]s = '%[3]s' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`, table, column, value),
			fmt.Sprintf(`CREATE TRIGGER refuse_%[1]s BEFORE INSERT ON %[1]s FOR EACH ROW EXECUTE FUNCTION refuse_%[1]s()`, table),
		}
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// CancelAtRandom makes n calls at once, call i with a context that gives
// up after a random time shorter than longest, and checks that no call lies
// about its write: one that returned nil has it stored, one that failed
// has not, and failed only for its deadline. stored tells whether the
// write of call i is stored; it runs once every call has returned.
func CancelAtRandom(t *testing.T, n int, longest time.Duration, call func(ctx context.Context, i int) error, stored func(i int) bool) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), rand.N(longest))
		wg.Go(func() {
			defer cancel()
			errs[i] = call(ctx, i)
		})
	}
	wg.Wait()
	var applied int
	for i, err := range errs {
		switch isStored := stored(i); {
		case err == nil && !isStored:
			t.Errorf("call %d reported its write applied, but it is not stored", i)
		case err != nil && isStored:
			t.Errorf("call %d reported %v, but its write is stored", i, err)
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			t.Errorf("call %d: %v", i, err)
		case err == nil:
			applied++
		}
	}
	t.Logf("%d applied, %d given up", applied, n-applied)
}

// RunShuffled runs jobs in a random order, workers of them at a time, and
// reports every error a job returns.
func RunShuffled(t *testing.T, workers int, jobs []func() error) {
	t.Helper()
	ch := make(chan func() error)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for job := range ch {
				if err := job(); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, i := range rand.Perm(len(jobs)) {
		ch <- jobs[i]
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
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

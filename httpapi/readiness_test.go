package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
)

// countingDB counts the readiness checks that reach the database.
type countingDB struct {
	*bun.DB
	checks atomic.Int64
	fail   atomic.Bool
}

func (c *countingDB) PingContext(ctx context.Context) error {
	c.checks.Add(1)
	if c.fail.Load() {
		return errors.New("down")
	}
	return c.DB.PingContext(ctx)
}

func (c *countingDB) RunInTx(ctx context.Context, opts *sql.TxOptions, fn func(context.Context, bun.Tx) error) error {
	c.checks.Add(1)
	if c.fail.Load() {
		return errors.New("down")
	}
	return c.DB.RunInTx(ctx, opts, fn)
}

// TestReadinessCache: on SQLite, where the check is a committed write,
// probes as fast as they come reach the database at most once a second,
// and the answer, ready or not, is at most a second old. On PostgreSQL
// every probe pings.
func TestReadinessCache(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		cdb := &countingDB{DB: db}
		now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
		r := newReadiness(cdb, func() time.Time { return now })
		ctx := context.Background()
		probe := func(n int) {
			t.Helper()
			for range n {
				r.check(ctx)
			}
		}
		if db.Dialect().Name().String() != "sqlite" {
			probe(50)
			if got := cdb.checks.Load(); got != 50 {
				t.Errorf("PostgreSQL: %d checks for 50 probes, want 50", got)
			}
			return
		}

		probe(50)
		if got := cdb.checks.Load(); got != 1 {
			t.Errorf("%d checks for 50 probes within a second, want 1", got)
		}
		cdb.fail.Store(true)
		now = now.Add(999 * time.Millisecond)
		if err := r.check(ctx); err != nil || cdb.checks.Load() != 1 {
			t.Errorf("at 999 ms: %v after %d checks, want the cached ready", err, cdb.checks.Load())
		}
		now = now.Add(time.Millisecond)
		if err := r.check(ctx); err == nil || cdb.checks.Load() != 2 {
			t.Errorf("at 1 s: %v after %d checks, want a new check, failing", err, cdb.checks.Load())
		}
		cdb.fail.Store(false)
		if err := r.check(ctx); err == nil {
			t.Error("the failure was not kept for its second")
		}
		now = now.Add(time.Second)
		if err := r.check(ctx); err != nil || cdb.checks.Load() != 3 {
			t.Errorf("a second later: %v after %d checks, want ready from a third check", err, cdb.checks.Load())
		}
	})
}

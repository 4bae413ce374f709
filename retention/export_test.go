package retention

import (
	"context"
	"testing"

	"github.com/uptrace/bun"
)

// HoldLockForTest takes the pruning lock of db's schema on a connection
// of its own, as another replica's pass would, and returns its release.
func HoldLockForTest(t *testing.T, db *bun.DB) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?, hashtext(current_schema()))", pruneLockKey); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if released {
			return
		}
		released = true
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock(?, hashtext(current_schema()))", pruneLockKey); err != nil {
			t.Error(err)
		}
		conn.Close()
	}
	t.Cleanup(release)
	return release
}

package migrations_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
)

// TestPoolIsBounded: both databases open at most DB_MAX_OPEN_CONNS
// connections (default 32); a request past that waits for one.
func TestPoolIsBounded(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		ctx := context.Background()
		def, err := migrations.Open(ctx, databaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer def.Close()
		if got := def.Stats().MaxOpenConnections; got != 32 {
			t.Errorf("default MaxOpenConnections = %d, want 32", got)
		}

		db, err := migrations.OpenWith(ctx, databaseURL, migrations.Options{MaxOpenConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got := db.Stats().MaxOpenConnections; got != 3 {
			t.Errorf("MaxOpenConnections = %d, want 3", got)
		}
		held := dbtest.Conns(t, db, 3)
		// A fourth waits for one of the three; it gives up after a moment.
		wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if c, err := db.DB.Conn(wait); !errors.Is(err, context.DeadlineExceeded) {
			if c != nil {
				c.Close()
			}
			t.Errorf("a 4th connection with 3 held: %v, want it to wait (deadline exceeded)", err)
		}
		for _, c := range held {
			c.Close()
		}
		if got := db.Stats().OpenConnections; got > 3 {
			t.Errorf("%d connections open, want at most 3", got)
		}
	})
}

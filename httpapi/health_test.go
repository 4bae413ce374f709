package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		srv := startServer(t, db, nil)

		wantBody(t, srv.get(t, "/healthz"), http.StatusOK, map[string]any{"status": "ok"})
		wantBody(t, srv.get(t, "/readyz"), http.StatusOK, map[string]any{"status": "ready"})

		if err := db.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		// SQLite may answer from its last check for up to a second.
		deadline := time.Now().Add(5 * time.Second)
		res := srv.get(t, "/readyz")
		for res.status == http.StatusOK && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			res = srv.get(t, "/readyz")
		}
		wantError(t, res, http.StatusServiceUnavailable, "database is unavailable")
		// Liveness does not depend on the database.
		wantBody(t, srv.get(t, "/healthz"), http.StatusOK, map[string]any{"status": "ok"})
	})
}

// TestReadyzSQLiteLeavesNothing: on SQLite the readiness check commits a
// write (a ping cannot tell a file that no longer takes writes); it must
// leave user_version as it was and, once checkpointed, the file unchanged.
func TestReadyzSQLiteLeavesNothing(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.SQLiteURL(t)
	db := dbtest.Open(t, databaseURL)
	_, path, err := migrations.ParseURL(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 42"); err != nil {
		t.Fatal(err)
	}
	checkpointed := func() []byte {
		t.Helper()
		if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := checkpointed()

	srv := startServer(t, db, nil)
	for range 50 {
		wantBody(t, srv.get(t, "/readyz"), http.StatusOK, map[string]any{"status": "ready"})
	}

	if after := checkpointed(); !bytes.Equal(before, after) {
		t.Errorf("50 readiness checks changed the database file (%d bytes, then %d)", len(before), len(after))
	}
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 42 {
		t.Errorf("user_version = %d after the readiness checks, want 42 as before", version)
	}
}

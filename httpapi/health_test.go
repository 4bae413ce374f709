package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/uptrace/bun"

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
		wantError(t, srv.get(t, "/readyz"), http.StatusServiceUnavailable, "database is unavailable")
		// Liveness does not depend on the database.
		wantBody(t, srv.get(t, "/healthz"), http.StatusOK, map[string]any{"status": "ok"})
	})
}

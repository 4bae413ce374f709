package httpapi

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// readinessTimeout bounds one readiness check: a probe must answer promptly.
const readinessTimeout = 2 * time.Second

// pinger is the database as the readiness probe needs it.
type pinger interface {
	Dialect() schema.Dialect
	PingContext(ctx context.Context) error
	RunInTx(ctx context.Context, opts *sql.TxOptions, fn func(ctx context.Context, tx bun.Tx) error) error
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 503 while the database cannot serve the service's writes.
func handleReadyz(logger *slog.Logger, db pinger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readinessTimeout)
		defer cancel()
		if err := checkDatabase(ctx, db); err != nil {
			logger.WarnContext(r.Context(), "readiness check failed", "request_id", requestID(r.Context()), "err", err)
			encode(w, http.StatusServiceUnavailable, map[string]string{"error": "database is unavailable"})
			return
		}
		encode(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// checkDatabase tells whether the database can take a write.
//
// PostgreSQL: a ping, which is a round trip on a pooled connection; a
// dead connection is discarded and the ping retried on a new one, so a
// terminated backend or a stopped server fails it.
//
// SQLite: reads keep working on a file that can no longer be written (a
// read-only or full disk, an immutable file), so a ping proves nothing.
// Nor does a rolled-back write: SQLite writes the WAL only at commit. The
// check commits a write that changes nothing, user_version set to its own
// value, under the write lock: one WAL frame, which the next checkpoint
// folds back into a database file of unchanged size and content.
func checkDatabase(ctx context.Context, db pinger) error {
	if db.Dialect().Name() != dialect.SQLite {
		return db.PingContext(ctx)
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var version int64
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			return err
		}
		// PRAGMA takes no bound parameters; version is an integer read just above.
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version))
		return err
	})
}

package httpapi

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
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

// handleReadyz answers 503 while the database cannot serve the service's
// writes. Probes are not rate limited, so on SQLite, where the check is a
// committed write, its answer is reused for a second (see readiness).
func handleReadyz(logger *slog.Logger, db pinger) http.Handler {
	ready := newReadiness(db, time.Now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ready.check(r.Context()); err != nil {
			logger.WarnContext(r.Context(), "readiness check failed", "request_id", requestID(r.Context()), "err", err)
			encode(w, http.StatusServiceUnavailable, map[string]string{"error": "database is unavailable"})
			return
		}
		encode(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// readinessCacheTTL is how long a SQLite readiness answer is reused.
const readinessCacheTTL = time.Second

// readiness runs checkDatabase. On SQLite every check takes the one write
// lock, so a flood of probes would queue writers behind it: there, checks
// run one at a time and an answer less than readinessCacheTTL old is
// reused, whether ready or not. PostgreSQL's check is a ping on a pooled
// connection, cheap and concurrent: it runs every time.
type readiness struct {
	db  pinger
	ttl time.Duration // 0: no reuse
	now func() time.Time

	mu      sync.Mutex // held during a SQLite check: concurrent probes wait for its answer
	checked time.Time
	err     error
}

func newReadiness(db pinger, now func() time.Time) *readiness {
	r := &readiness{db: db, now: now}
	if db != nil && db.Dialect().Name() == dialect.SQLite {
		r.ttl = readinessCacheTTL
	}
	return r
}

func (r *readiness) check(ctx context.Context) error {
	if r.ttl == 0 {
		ctx, cancel := context.WithTimeout(ctx, readinessTimeout)
		defer cancel()
		return checkDatabase(ctx, r.db)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && r.now().Sub(r.checked) < r.ttl {
		return r.err
	}
	// The answer is shared: a probe that hangs up must not fail the next.
	shared, cancelShared := context.WithTimeout(context.WithoutCancel(ctx), readinessTimeout)
	defer cancelShared()
	r.err = checkDatabase(shared, r.db)
	r.checked = r.now()
	return r.err
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

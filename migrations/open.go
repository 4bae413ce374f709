package migrations

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
)

// preparedStatements bounds the statements a PostgreSQL connection keeps
// prepared: the hot paths' fixed ones, with room to spare.
const preparedStatements = 64

// DefaultURL is the embedded database used when DATABASE_URL is unset.
const DefaultURL = "sqlite:data/usersync.db"

// Dialect names the database family behind a DATABASE_URL.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// ParseURL tells which database a DATABASE_URL selects and returns the
// driver-level DSN: the URL itself for PostgreSQL, the file path for SQLite.
func ParseURL(rawURL string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		if _, err := pgx.ParseConfig(rawURL); err != nil {
			return "", "", fmt.Errorf("invalid PostgreSQL URL: %s", redactPgError(err))
		}
		return Postgres, rawURL, nil
	case strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		path := rawURL[strings.Index(rawURL, ":")+1:]
		path = strings.TrimPrefix(path, "//")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" {
			return "", "", fmt.Errorf("sqlite URL has no file path")
		}
		return SQLite, path, nil
	default:
		scheme, _, _ := strings.Cut(rawURL, ":")
		return "", "", fmt.Errorf("unknown scheme %q (want postgres://, postgresql://, sqlite: or file:)", scheme)
	}
}

// redactPgError keeps a parse error from echoing a password back into a log line.
func redactPgError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "failed to parse as"); i >= 0 {
		return msg[i:]
	}
	return "cannot parse"
}

// DefaultMaxOpenConns is DB_MAX_OPEN_CONNS' default.
const DefaultMaxOpenConns = 32

// Options tune the connection pool.
type Options struct {
	// MaxOpenConns (DB_MAX_OPEN_CONNS) caps the open connections, on both
	// databases: requests beyond it wait for a connection instead of
	// opening more. 0 means DefaultMaxOpenConns.
	MaxOpenConns int
}

// Open is OpenWith and the default Options.
func Open(ctx context.Context, rawURL string) (*bun.DB, error) {
	return OpenWith(ctx, rawURL, Options{})
}

// OpenWith connects to the database a DATABASE_URL names. SQLite gets the
// settings every connection needs: foreign keys on (deletes cascade),
// WAL (readers do not block the writer), a busy timeout (writers queue
// instead of failing) and immediate write transactions (no deadlocking
// lock upgrades). The parent folder of a SQLite file is created.
func OpenWith(ctx context.Context, rawURL string, opts Options) (*bun.DB, error) {
	maxOpen := opts.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenConns
	}
	kind, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var db *bun.DB
	switch kind {
	case Postgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		// bun writes every value into the SQL text and passes the driver no
		// arguments, so hardly two statements share a text: pgx's default
		// mode would prepare each one (an extra round trip), cache it and
		// deallocate it later. The simple protocol sends each in one round
		// trip, as pgx already does for an Exec without arguments. The few
		// fixed statements of the hot paths ask for
		// pgx.QueryExecModeCacheStatement themselves: prepared once per
		// connection, kept in a small cache that only they enter. A URL that
		// names default_query_exec_mode keeps its choice.
		if !strings.Contains(dsn, "default_query_exec_mode") {
			cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
			cfg.StatementCacheCapacity = preparedStatements
			cfg.DescriptionCacheCapacity = 0
		}
		sqldb := stdlib.OpenDB(*cfg)
		sqldb.SetMaxOpenConns(maxOpen)
		sqldb.SetMaxIdleConns(maxOpen)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, pgdialect.New())
	case SQLite:
		if dir := filepath.Dir(dsn); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("create database folder: %w", err)
			}
		}
		q := url.Values{}
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		connector, err := sqlite.NewConnector("file:" + dsn + "?" + q.Encode())
		if err != nil {
			return nil, err
		}
		sqldb := sql.OpenDB(writableConnector{connector})
		// Bounded as on PostgreSQL: a flood must queue for a connection,
		// not open a file handle (and its page cache) per request.
		sqldb.SetMaxOpenConns(maxOpen)
		// database/sql keeps 2 idle connections by default: under
		// concurrent requests the others were closed on release and
		// reopened (pragmas, write check and all) by the next query. Keep
		// them, as the PostgreSQL pool does.
		sqldb.SetMaxIdleConns(maxOpen)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", kind, err)
	}
	return db, nil
}

// DialectOf tells which database family db talks to.
func DialectOf(db bun.IDB) Dialect {
	if db.Dialect().Name() == dialect.PG {
		return Postgres
	}
	return SQLite
}

// writableConnector refuses a SQLite connection that opened read-only.
// SQLite falls back to read-only, silently, when the file cannot be
// opened for writing (a read-only mount, an immutable file); kept in the
// pool, such a connection would fail every write long after the file is
// writable again. A write rolled back tells: it fails only on a
// read-only connection, and leaves nothing behind.
type writableConnector struct{ driver.Connector }

func (c writableConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	exec, ok := conn.(driver.ExecerContext)
	if !ok {
		return conn, nil
	}
	for _, q := range []string{"BEGIN", "PRAGMA user_version = 0", "ROLLBACK"} {
		if _, err := exec.ExecContext(ctx, q, nil); err != nil {
			conn.Close()
			return nil, fmt.Errorf("sqlite connection cannot write: %w", err)
		}
	}
	return conn, nil
}

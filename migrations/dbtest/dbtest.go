// Package dbtest gives tests real, migrated databases: a SQLite file always
// and PostgreSQL when TEST_DATABASE_URL is set, each test in a database or
// schema of its own so that tests may run in parallel, as bun's own suite
// does with internal/dbtest.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
)

// Each runs fn as a subtest per database, each with a freshly migrated one.
func Each(t *testing.T, fn func(t *testing.T, db *bun.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Open(t, SQLiteURL(t)))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Open(t, PostgresURL(t)))
	})
}

// EachURL is Each for tests that need a DATABASE_URL rather than a handle
// (the end-to-end tests of the binary). The database is empty: unmigrated.
func EachURL(t *testing.T, fn func(t *testing.T, databaseURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresURL(t)) })
}

// SQLiteURL names a new SQLite file in the test's temporary folder.
func SQLiteURL(t *testing.T) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "usersync.db")
}

// PostgresURL creates a schema of its own on TEST_DATABASE_URL's server
// and returns a URL whose search_path selects it; the schema is dropped
// when the test ends. Without TEST_DATABASE_URL the test is skipped,
// unless CI is set: CI must fail rather than skip the PostgreSQL suite.
func PostgresURL(t *testing.T) string {
	t.Helper()
	base := testDatabaseURL(t)
	schema := "test_" + randomHex(t, 8)
	createOnServer(t, base, "CREATE SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE")

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresDatabase creates a database of its own on TEST_DATABASE_URL's
// server and returns its URL; the database is dropped, with any
// connection left to it, when the test ends. It is for tests that take a
// whole database away (ALTER DATABASE, pg_terminate_backend) without
// touching anyone else's. It skips or fails as PostgresURL does.
func PostgresDatabase(t *testing.T) string {
	t.Helper()
	base := testDatabaseURL(t)
	// template0 takes no connections, so no one else's session can make
	// CREATE DATABASE fail as template1's can.
	name := "test_" + randomHex(t, 8)
	createOnServer(t, base, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'",
		"DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")

	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// createOnServer runs create on the server of base now, and drop when the
// test ends (on a connection of its own: the test's may be gone by then).
func createOnServer(t *testing.T, base, create, drop string) {
	t.Helper()
	ctx := context.Background()
	admin, err := migrations.Open(ctx, base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL is set but PostgreSQL is unreachable: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, create); err != nil {
		t.Fatalf("%s: %v", create, err)
	}
	t.Cleanup(func() {
		admin, err := migrations.Open(context.Background(), base)
		if err != nil {
			t.Errorf("%s: %v", drop, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), drop); err != nil {
			t.Errorf("%s: %v", drop, err)
		}
	})
}

// testDatabaseURL is TEST_DATABASE_URL. Without it the test is skipped,
// unless CI is set: CI must fail rather than skip the PostgreSQL suite.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but TEST_DATABASE_URL is not: the PostgreSQL suite must run in CI")
		}
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return base
}

// Open opens and migrates the database at databaseURL, closing it when the test ends.
func Open(t *testing.T, databaseURL string) *bun.DB {
	t.Helper()
	db := open(t, databaseURL)
	if _, err := migrations.Up(context.Background(), db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// List is migrations.List of the database at databaseURL, opened for it
// (and not migrated): which migrations there are, which are applied.
func List(t *testing.T, databaseURL string) []migrations.Status {
	t.Helper()
	list, err := migrations.List(context.Background(), open(t, databaseURL))
	if err != nil {
		t.Fatalf("list migrations: %v", err)
	}
	return list
}

// open opens the database at databaseURL, closing it when the test ends.
func open(t *testing.T, databaseURL string) *bun.DB {
	t.Helper()
	db, err := migrations.Open(context.Background(), databaseURL)
	if err != nil {
		t.Fatalf("open %s: %v", redact(databaseURL), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Conns takes n connections of db's pool at once (opening them if the
// pool has none idle); the caller closes them.
func Conns(t *testing.T, db *bun.DB, n int) []*sql.Conn {
	t.Helper()
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := db.DB.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func redact(databaseURL string) string {
	if u, err := url.Parse(databaseURL); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return strings.SplitN(databaseURL, "?", 2)[0]
}

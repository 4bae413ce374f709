package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
)

// DatabaseURL is the PostgreSQL server to measure on: BENCH_DATABASE_URL,
// else TEST_DATABASE_URL, else "".
func DatabaseURL() string {
	if u := os.Getenv("BENCH_DATABASE_URL"); u != "" {
		return u
	}
	return os.Getenv("TEST_DATABASE_URL")
}

// CreateDatabase creates an empty database named prefix_<random> on the
// server of base and returns its URL and a function that drops it (with
// any connection left to it).
func CreateDatabase(ctx context.Context, base, prefix string) (string, func() error, error) {
	admin, err := migrations.Open(ctx, base)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := prefix + "_" + hex.EncodeToString(b)
	// template0 takes no connections, so no one else's session can make this fail.
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() error {
		admin, err := migrations.Open(context.Background(), base)
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), drop, nil
}

// Database is a benchmark command's throwaway database on the PostgreSQL
// server it measures on: Create makes it, Open connects to it once
// usersync has migrated it, Drop drops it at the end unless it is kept.
type Database struct {
	URL  string
	DB   *bun.DB // after Open
	drop func() error
}

// Create creates the database prefix_<random> on the server of base.
func (d *Database) Create(ctx context.Context, base, prefix string) error {
	u, drop, err := CreateDatabase(ctx, base, prefix)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", Redact(base), err)
	}
	d.URL, d.drop = u, drop
	return nil
}

// Open connects to the database.
func (d *Database) Open(ctx context.Context) error {
	db, err := migrations.Open(ctx, d.URL)
	if err != nil {
		return err
	}
	d.DB = db
	return nil
}

// Drop closes the connection, if open, and drops the database, if created,
// unless keep.
func (d *Database) Drop(keep bool) error {
	if d.DB != nil {
		d.DB.Close()
	}
	if d.drop == nil || keep {
		return nil
	}
	return d.drop()
}

// Machine is what a report's header says the figures were measured on:
// "PostgreSQL <version of db's server>, <n> cores".
func Machine(ctx context.Context, db bun.IDB) string {
	var version string
	_ = db.QueryRowContext(ctx, "SHOW server_version").Scan(&version)
	return fmt.Sprintf("PostgreSQL %s, %d cores", version, runtime.NumCPU())
}

// Redact drops the password of a database URL, for printing.
func Redact(databaseURL string) string {
	if u, err := url.Parse(databaseURL); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return strings.SplitN(databaseURL, "?", 2)[0]
}

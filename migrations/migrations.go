// Package migrations holds the schema of usersync for PostgreSQL and SQLite
// (the same migration ids in both), applies it with bun's migrator, and
// opens the database a DATABASE_URL names.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// advisoryLockKey serializes migrations across replicas sharing one
// PostgreSQL. bun's own lock table fails fast when another process holds
// it; replicas starting together must wait instead.
const advisoryLockKey = 0x75737273796e63 // "usrsync"

// Status is one migration and whether it has been applied.
type Status struct {
	Name    string
	Applied bool
	GroupID int64
}

func migrator(db *bun.DB) (*migrate.Migrator, error) {
	ms, err := discover(db)
	if err != nil {
		return nil, err
	}
	return newMigrator(db, ms), nil
}

// discover returns the migrations of db's dialect.
func discover(db *bun.DB) (*migrate.Migrations, error) {
	sub, err := fs.Sub(files, string(DialectOf(db)))
	if err != nil {
		return nil, err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return nil, err
	}
	return ms, nil
}

// newMigrator is bun's migrator of ms on db, as Up and UpBefore apply them.
func newMigrator(db *bun.DB, ms *migrate.Migrations) *migrate.Migrator {
	return migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))
}

// Up applies every pending migration and returns the names it applied.
func Up(ctx context.Context, db *bun.DB) ([]string, error) {
	return lockedGroup(ctx, db, (*migrate.Migrator).Migrate)
}

// Down rolls back the last group of migrations and returns their names.
func Down(ctx context.Context, db *bun.DB) ([]string, error) {
	return lockedGroup(ctx, db, (*migrate.Migrator).Rollback)
}

// lockedGroup runs step, Migrate or Rollback, under the lock and returns
// the names of the group's migrations, also those done before an error.
func lockedGroup(ctx context.Context, db *bun.DB, step func(*migrate.Migrator, context.Context, ...migrate.MigrationOption) (*migrate.MigrationGroup, error)) ([]string, error) {
	var names []string
	err := locked(ctx, db, func(m *migrate.Migrator) error {
		group, err := step(m, ctx)
		if group != nil {
			for _, mig := range group.Migrations {
				names = append(names, mig.Name)
			}
		}
		return err
	})
	return names, err
}

// List reports every known migration with its state.
func List(ctx context.Context, db *bun.DB) ([]Status, error) {
	var out []Status
	err := locked(ctx, db, func(m *migrate.Migrator) error {
		ms, err := m.MigrationsWithStatus(ctx)
		for _, mig := range ms {
			out = append(out, Status{Name: mig.Name + "_" + mig.Comment, Applied: mig.IsApplied(), GroupID: mig.GroupID})
		}
		return err
	})
	return out, err
}

// locked runs fn with the migrator's tables created, holding a lock so
// that concurrent replicas take turns: a PostgreSQL session advisory lock,
// or an flock beside the SQLite file. Creating
// the tables is inside the lock too: two concurrent CREATE TABLE IF NOT
// EXISTS can still collide in PostgreSQL's catalog.
func locked(ctx context.Context, db *bun.DB, fn func(*migrate.Migrator) error) error {
	m, err := migrator(db)
	if err != nil {
		return err
	}
	switch DialectOf(db) {
	case SQLite:
		// Processes sharing one SQLite file take turns through a lock file beside it.
		var path string
		if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
			return fmt.Errorf("find database file: %w", err)
		}
		if path != "" {
			unlock, err := lockFile(ctx, path+".migrate-lock")
			if err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
			defer unlock()
		}
	case Postgres:
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", advisoryLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		// Unlock even when ctx is cancelled: the session lock would otherwise
		// outlive this call on a pooled connection.
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", advisoryLockKey)
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("create migration tables: %w", err)
	}
	return fn(m)
}

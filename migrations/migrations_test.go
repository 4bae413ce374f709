package migrations_test

import (
	"context"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
)

// TestSameMigrationIDsOnBothDialects: the schema means the same on both.
func TestSameMigrationIDsOnBothDialects(t *testing.T) {
	ids := func(dir string) []string {
		entries, err := fs.ReadDir(os.DirFS("."), dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return out
	}
	pg, lite := ids("postgres"), ids("sqlite")
	if strings.Join(pg, ",") != strings.Join(lite, ",") {
		t.Errorf("migration files differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
	for _, name := range pg {
		if strings.HasSuffix(name, ".up.sql") {
			down := strings.Replace(name, ".up.sql", ".down.sql", 1)
			if !strings.Contains(strings.Join(pg, ","), down) {
				t.Errorf("%s has no down migration", name)
			}
		}
	}
}

// TestConcurrentUp: replicas starting together on one database all
// succeed, and each migration is applied exactly once.
func TestConcurrentUp(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		ctx := context.Background()
		const replicas = 5
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			applied []string
		)
		errs := make(chan error, replicas)
		for range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := migrations.Open(ctx, databaseURL)
				if err != nil {
					errs <- err
					return
				}
				defer db.Close()
				names, err := migrations.Up(ctx, db)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				applied = append(applied, names...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("replica failed: %v", err)
		}

		list := dbtest.List(t, databaseURL)
		if len(applied) != len(list) {
			t.Errorf("applied %d migrations in all (%v), want each of %d once", len(applied), applied, len(list))
		}
		seen := map[string]bool{}
		for _, name := range applied {
			if seen[name] {
				t.Errorf("migration %s applied twice", name)
			}
			seen[name] = true
		}
		for _, m := range list {
			if !m.Applied {
				t.Errorf("%s not applied", m.Name)
			}
		}
	})
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		dialect migrations.Dialect
		dsn     string
		wantErr bool
	}{
		{"sqlite:data/usersync.db", migrations.SQLite, "data/usersync.db", false},
		{"file:/tmp/x.db", migrations.SQLite, "/tmp/x.db", false},
		{"sqlite:///tmp/x.db", migrations.SQLite, "/tmp/x.db", false},
		{"postgres://u@localhost/db", migrations.Postgres, "postgres://u@localhost/db", false},
		{"postgresql://u@localhost/db", migrations.Postgres, "postgresql://u@localhost/db", false},
		{"mysql://u@localhost/db", "", "", true},
		{"sqlite:", "", "", true},
	} {
		d, dsn, err := migrations.ParseURL(tc.url)
		if (err != nil) != tc.wantErr || d != tc.dialect || dsn != tc.dsn {
			t.Errorf("ParseURL(%q) = %q, %q, %v", tc.url, d, dsn, err)
		}
	}
}

package migrations

import (
	"context"
	"fmt"
	"io/fs"
	"testing/fstest"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// UpBefore applies, as one group, the migrations whose id sorts before id,
// so that a test can fill the schema as it was and then migrate the rest.
func UpBefore(ctx context.Context, db *bun.DB, id string) error {
	dir := string(DialectOf(db))
	older := fstest.MapFS{}
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() >= id {
			continue
		}
		data, err := fs.ReadFile(files, dir+"/"+e.Name())
		if err != nil {
			return err
		}
		older[e.Name()] = &fstest.MapFile{Data: data}
	}
	if len(older) == 0 {
		return fmt.Errorf("no migration before %s", id)
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(older); err != nil {
		return err
	}
	m := migrate.NewMigrator(db, ms, migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return err
	}
	_, err = m.Migrate(ctx)
	return err
}

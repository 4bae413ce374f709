package migrations

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// UpBefore applies, as one group, the migrations whose id sorts before id
// (an id such as "20261206000002"), so that a test or a benchmark can
// have the schema as it was before that migration; Up applies the rest.
func UpBefore(ctx context.Context, db *bun.DB, id string) error {
	all, err := discover(db)
	if err != nil {
		return err
	}
	older := migrate.NewMigrations()
	for _, m := range all.Sorted() {
		if m.Name < id {
			older.Add(m)
		}
	}
	if len(older.Sorted()) == 0 {
		return fmt.Errorf("no migration before %s", id)
	}
	m := newMigrator(db, older)
	if err := m.Init(ctx); err != nil {
		return err
	}
	_, err = m.Migrate(ctx)
	return err
}

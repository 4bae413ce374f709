// Package txn is where a write of usersync commits. Run runs a unit of
// work in one database transaction; code inside it registers what must
// happen just before the commit, inside the transaction (a NOTIFY to the
// other replicas), and right after it (telling this process's live
// streams). So a change is published if and only if it committed, from
// one place, whichever service wrote it and however transactions nest.
package txn

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

type ctxKey struct{}

// state is the outermost transaction of a Run and its hooks.
type state struct {
	tx     bun.Tx
	before []func(context.Context, bun.Tx) error
	after  []func()
}

// ErrNoTransaction: a hook was registered outside Run.
var ErrNoTransaction = errors.New("txn: not inside txn.Run")

// Run runs fn in a new transaction of db, then the BeforeCommit hooks in
// it, commits, and runs the AfterCommit hooks. When ctx comes from an
// enclosing Run, fn joins that transaction instead, and its hooks run with
// the enclosing commit (or not at all, if that one rolls back). Any error
// rolls the transaction back and is returned.
func Run(ctx context.Context, db bun.IDB, fn func(ctx context.Context, tx bun.Tx) error) error {
	if st, ok := ctx.Value(ctxKey{}).(*state); ok {
		return fn(ctx, st.tx)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	st := &state{tx: tx}
	inner := context.WithValue(ctx, ctxKey{}, st)
	err = fn(inner, tx)
	for i := 0; err == nil && i < len(st.before); i++ { // a hook may add hooks
		err = st.before[i](inner, tx)
	}
	if err != nil {
		_ = tx.Rollback() // the error that matters is err
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range st.after {
		f()
	}
	return nil
}

// Active tells whether ctx comes from a Run: a write made with it belongs
// to that Run's transaction.
func Active(ctx context.Context) bool {
	_, ok := ctx.Value(ctxKey{}).(*state)
	return ok
}

// BeforeCommit registers f to run in the transaction of ctx's Run, after
// the work and before the commit; its error rolls everything back.
func BeforeCommit(ctx context.Context, f func(ctx context.Context, tx bun.Tx) error) error {
	st, ok := ctx.Value(ctxKey{}).(*state)
	if !ok {
		return ErrNoTransaction
	}
	st.before = append(st.before, f)
	return nil
}

// AfterCommit registers f to run once ctx's Run has committed.
func AfterCommit(ctx context.Context, f func()) error {
	st, ok := ctx.Value(ctxKey{}).(*state)
	if !ok {
		return ErrNoTransaction
	}
	st.after = append(st.after, f)
	return nil
}

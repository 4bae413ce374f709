package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/usersync/usersync/batch"
	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/txn"
)

// Service is the one writer of users. Every write is an
// INSERT … ON CONFLICT … DO UPDATE … WHERE statement, so concurrent
// writers for one id converge without unique violations. Concurrent
// upserts are committed in groups (package batch): one statement and one
// commit for all the writes waiting.
type Service struct {
	db    bun.IDB
	clock *clock
	group *batch.Committer[Write, Result] // nil inside a caller's transaction

	// Observer, if set, is told every upsert's writer and outcome (for
	// metrics), once committed. Set it before use; WithTx keeps it.
	Observer func(Writer, Outcome)
	// Feed, if set, is told of each tombstone when it commits, so that
	// the user's live streams end. WithTx keeps it.
	Feed *live.Feed
}

// Grouping: how many groups commit at once, and how large one may be.
const (
	groupWorkers = 4
	groupMax     = 256
	groupTimeout = 30 * time.Second
)

// NewService returns a Service on db.
func NewService(db *bun.DB) *Service {
	s := &Service{db: db, clock: &clock{}}
	workers := groupWorkers
	if db.Dialect().Name() != dialect.PG {
		workers = 1 // SQLite writes one transaction at a time anyway
	}
	s.group = batch.New(s.applyGroup, workers, groupMax, groupTimeout)
	return s
}

// WithTx returns the service bound to tx, so that a caller can commit a
// write together with its own records (the webhook event log does).
func (s *Service) WithTx(tx bun.Tx) *Service {
	return &Service{db: tx, clock: s.clock, Observer: s.Observer, Feed: s.Feed}
}

// Upsert applies w under the rules of the one upsert (docs/design.md):
//   - a write older than the stored version is Stale and changes nothing;
//     a write of the same version is applied (every sync made with one
//     session token carries that token's iat, and the later one must win);
//   - updated_at moves only when email or name change; the version may
//     advance without a visible change (Unchanged);
//   - a deleted user is never written again (Gone).
//
// The Result holds the row as it stands after the write, whatever the outcome.
func (s *Service) Upsert(ctx context.Context, w Write) (Result, error) {
	if s.group != nil {
		return s.group.Do(ctx, w)
	}
	return batch.One(ctx, s.applyGroup, w)
}

// Each is the result of one write of UpsertAll.
type Each struct {
	Result
	Err error // the write alone was refused (a blank id)
}

// UpsertAll applies ws together, in the caller's transaction (WithTx) or
// in one of its own, writes for one user in version order.
func (s *Service) UpsertAll(ctx context.Context, ws []Write) ([]Each, error) {
	results, errs, err := s.applyGroup(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := make([]Each, len(ws))
	for i := range ws {
		out[i] = Each{Result: results[i], Err: errs[i]}
	}
	return out, nil
}

// applyGroup applies ws together (UpsertAll; batch.Apply of the groups):
// results[i] is the outcome of ws[i], errs[i] set for a write refused on
// its own. The Observer hears of each applied write once it is committed.
func (s *Service) applyGroup(ctx context.Context, ws []Write) ([]Result, []error, error) {
	rounds, errs := plan(ws)
	var results []Result
	observe := func() {
		for i := range ws {
			if errs[i] == nil && s.Observer != nil {
				s.Observer(ws[i].Writer, results[i].Outcome)
			}
		}
	}
	if db, ok := s.db.(*bun.DB); ok && db.Dialect().Name() == dialect.PG && !txn.Active(ctx) && oneStatement(ws, rounds) {
		// One statement is atomic: no BEGIN and COMMIT round trips.
		var err error
		if results, err = s.upsertAll(ctx, db, db.DB, ws, rounds); err != nil {
			return nil, nil, err
		}
		observe()
		return results, errs, nil
	}
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if results, err = s.upsertAll(ctx, tx, tx.Tx, ws, rounds); err != nil {
			return err
		}
		return txn.AfterCommit(ctx, observe) // with the caller's transaction, if any
	})
	if err != nil {
		return nil, nil, err
	}
	return results, errs, nil
}

// Delete tombstones the user at time at: email and name are cleared, and
// the row stays so that nothing older can resurrect it. A user never seen
// gets a tombstone too (a user.deleted may arrive before user.created).
// Deleting twice is Unchanged.
func (s *Service) Delete(ctx context.Context, clerkUserID string, at time.Time) (Result, error) {
	if err := validateID(clerkUserID); err != nil {
		return Result{}, err
	}
	now := s.clock.now()
	deletedAt := at.UTC().Truncate(time.Microsecond)
	row := User{
		ClerkUserID: clerkUserID,
		Version:     at.UnixMilli(),
		DeletedAt:   &deletedAt,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	var res Result
	err := txn.Run(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		err := tx.NewInsert().
			Model(&row).
			Column("clerk_user_id", "email", "name", "version", "deleted_at", "created_at", "updated_at").
			On("CONFLICT (clerk_user_id) DO UPDATE").
			Set("email = NULL").
			Set("name = NULL").
			Set("deleted_at = EXCLUDED.deleted_at").
			Set("version = CASE WHEN u.version > EXCLUDED.version THEN u.version ELSE EXCLUDED.version END").
			Set("updated_at = EXCLUDED.updated_at").
			Where("u.deleted_at IS NULL").
			Returning("*").
			Scan(ctx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			current, err := s.getIn(ctx, tx, clerkUserID)
			res = Result{User: current, Outcome: Unchanged}
			return err
		case err != nil:
			return fmt.Errorf("tombstone user: %w", err)
		}
		res = Result{User: row, Outcome: Deleted}
		if err := purgeOwnedData(ctx, tx, row.ID); err != nil {
			return err
		}
		return s.Feed.Publish(ctx, live.Change{Kind: live.UserDeleted, UserID: row.ID})
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// purgeOwnedData removes what belongs to a deleted user, in the
// tombstone's transaction. It is the one place that does. The user's
// locations go with the devices (ON DELETE CASCADE).
func purgeOwnedData(ctx context.Context, tx bun.Tx, userID int64) error {
	if _, err := tx.NewDelete().Table("devices").Where("user_id = ?", userID).Exec(ctx); err != nil {
		return fmt.Errorf("delete devices of user %d: %w", userID, err)
	}
	return nil
}

// Get returns the live user with clerkUserID: ErrNotFound if there is
// none, errs.UserDeleted if it was deleted.
func (s *Service) Get(ctx context.Context, clerkUserID string) (User, error) {
	u, err := s.getIn(ctx, s.db, clerkUserID)
	if err != nil {
		return User{}, err
	}
	if u.Deleted() {
		return User{}, errs.UserDeleted
	}
	return u, nil
}

func (s *Service) getIn(ctx context.Context, db bun.IDB, clerkUserID string) (User, error) {
	var u User
	err := db.NewSelect().Model(&u).Where("clerk_user_id = ?", clerkUserID).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("user %s: %w", clerkUserID, ErrNotFound)
	case err != nil:
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ErrNotFound: no user has that Clerk id (yet).
var ErrNotFound = errs.New(errs.NotFound, "user not found")

func writeOutcome(row User, now time.Time) Outcome {
	switch {
	case row.CreatedAt.Equal(now):
		return Created
	case row.UpdatedAt.Equal(now):
		return Updated
	default:
		return Unchanged
	}
}

func validateID(clerkUserID string) error {
	if strings.TrimSpace(clerkUserID) == "" {
		return errs.Field("clerk_user_id", "must not be empty")
	}
	return nil
}

// clock hands out distinct microsecond timestamps (the precision both
// databases keep), so that a row's created_at or updated_at equal to the
// write's own time tells that this very write set it.
type clock struct{ last atomic.Int64 }

func (c *clock) now() time.Time {
	for {
		t := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
		last := c.last.Load()
		if t <= last {
			t = last + 1
		}
		if c.last.CompareAndSwap(last, t) {
			return time.UnixMicro(t).UTC()
		}
	}
}

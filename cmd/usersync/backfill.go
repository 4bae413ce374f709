package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/txn"
	"github.com/usersync/usersync/users"
)

// errRollback ends a dry run's transaction without committing.
var errRollback = errors.New("dry run: rolled back")

func (c cli) backfill(ctx context.Context, args []string) error {
	fs := newFlags("backfill", "usersync backfill [--dry-run] [--reconcile]: upsert every user of Clerk's Backend API (CLERK_SECRET_KEY, CLERK_API_URL),\n"+
		"then, with --reconcile, tombstone the local users that Clerk deleted (only on a 404 for their id).")
	dryRun := fs.Bool("dry-run", false, "report what would change, write nothing")
	doReconcile := fs.Bool("reconcile", false, "then tombstone every live local user missing from the list that a lookup by id in Clerk answers 404 for")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	// Checked before the database is opened (and perhaps created).
	cfg, logger, err := c.setup()
	if err != nil {
		return err
	}
	if cfg.ClerkSecretKey == "" {
		return errors.New("backfill: CLERK_SECRET_KEY is not configured")
	}
	db, err := app.OpenDB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	api := clerk.NewBackend(cfg.ClerkSecretKey, cfg.ClerkAPIURL)
	api.OnWait = func(wait time.Duration) {
		fmt.Fprintf(c.stderr, "backfill: rate limited by Clerk, waiting %s\n", wait)
	}
	var (
		listed  map[string]bool // every id of Clerk's list, for --reconcile
		liveNow int             // live local users before the run
		onList  func(string)
	)
	if *doReconcile {
		listed = map[string]bool{}
		onList = func(id string) { listed[id] = true }
		if liveNow, err = countLiveUsers(ctx, db); err != nil {
			return err
		}
	}
	counts, err := backfill(ctx, api, db, *dryRun, c.stderr, onList)
	prefix := "backfill"
	if *dryRun {
		prefix = "backfill (dry run, nothing written)"
	}
	fmt.Fprintf(c.stdout, "%s: %d users: %d created, %d updated, %d unchanged, %d stale, %d deleted\n",
		prefix, counts.total(), counts[users.Created], counts[users.Updated], counts[users.Unchanged],
		counts[users.Stale], counts[users.Gone])
	if err != nil || !*doReconcile {
		return err
	}
	rc, err := reconcile(ctx, api, db, listed, liveNow, *dryRun, c.stderr)
	verb := "reconciled"
	if *dryRun {
		verb = "would be reconciled"
	}
	fmt.Fprintf(c.stdout, "%s: reconcile: %d live users missing from Clerk's list: %d %s (deleted in Clerk), %d still in Clerk, %d skipped\n",
		prefix, rc.missing, rc.reconciled, verb, rc.kept, rc.skipped)
	return err
}

type outcomeCounts map[users.Outcome]int

func (c outcomeCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// backfill pages through Clerk's users (oldest first) and upserts each
// one as writer backfill, versioned by its updated_at. A dry run makes the
// same writes in a transaction that it rolls back, so it reports exactly
// what a real run would do. onList, if set, is told the id of every user
// listed.
func backfill(ctx context.Context, api *clerk.Backend, db *bun.DB, dryRun bool, progress io.Writer, onList func(string)) (outcomeCounts, error) {
	counts := outcomeCounts{}
	svc, err := usersService(ctx, db)
	if err != nil {
		return counts, err
	}
	for offset := int64(0); ; {
		page, err := api.ListUsers(ctx, offset, clerk.MaxPageSize)
		if err != nil {
			return counts, err
		}
		// A page is one group of upserts: one statement on PostgreSQL.
		err = txn.Run(ctx, db, func(ctx context.Context, tx bun.Tx) error {
			writes := make([]users.Write, len(page.Users))
			for i, u := range page.Users {
				if onList != nil {
					onList(u.ID)
				}
				writes[i] = u.Write(users.WriterBackfill)
			}
			each, err := svc.WithTx(tx).UpsertAll(ctx, writes)
			if err != nil {
				return err
			}
			for i, e := range each {
				if e.Err != nil {
					return fmt.Errorf("user %s: %w", page.Users[i].ID, e.Err)
				}
				counts[e.Outcome]++
			}
			if dryRun {
				return errRollback
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			return counts, err
		}
		offset += int64(len(page.Users))
		fmt.Fprintf(progress, "backfill: %d/%d users\n", offset, page.TotalCount)
		if len(page.Users) < clerk.MaxPageSize {
			return counts, nil
		}
	}
}

// reconcileCounts is what reconcile did with the live local users missing
// from Clerk's list.
type reconcileCounts struct {
	missing    int // live here, not in the list
	reconciled int // Clerk answered 404 for the id: tombstoned
	kept       int // Clerk has the user after all (the list moved under the paging)
	skipped    int // an id that cannot be a Clerk user id: never looked up
}

// reconcile repairs deletions that never arrived as a user.deleted (Svix
// gives up on an endpoint after days of failures). Every live local user
// that Clerk's list did not hold is looked up by id; only a 404 with
// Clerk's resource_not_found error counts as deleted, and writes the
// tombstone through the users service at the time of the lookup, as a
// user.deleted would (which also deletes the user's devices and
// locations). A user the lookup finds is left alone. Any other answer (a
// 5xx, a 401, a 404 that is not Clerk's, a network error, 429s beyond
// maxRateLimitWaits) stops reconcile with an error, deleting nothing on
// its account; what was tombstoned before stays, and a rerun continues.
//
// When more than half of the users live here before the run are missing
// from the list, reconcile stops before any lookup: that is what a
// CLERK_SECRET_KEY of another Clerk instance looks like, whose 404s say
// nothing about this database.
func reconcile(ctx context.Context, api *clerk.Backend, db *bun.DB, listed map[string]bool, liveBefore int, dryRun bool, progress io.Writer) (reconcileCounts, error) {
	var c reconcileCounts
	missing, err := liveUsersNotIn(ctx, db, listed)
	if err != nil {
		return c, err
	}
	c.missing = len(missing)
	if c.missing > 0 && 2*c.missing > liveBefore {
		return c, fmt.Errorf("reconcile: %d of the %d users live here are missing from Clerk's list: is CLERK_SECRET_KEY the key of this database's Clerk instance? Nothing was deleted", c.missing, liveBefore)
	}
	svc, err := usersService(ctx, db)
	if err != nil {
		return c, err
	}
	for _, id := range missing {
		if !plausibleClerkID(id) {
			c.skipped++
			fmt.Fprintf(progress, "backfill: reconcile: %q is not a Clerk user id: skipped\n", id)
			continue
		}
		gone, err := api.UserGone(ctx, id)
		if err != nil {
			return c, fmt.Errorf("reconcile: look up %s in Clerk: %w (stopped; nothing deleted on its account)", id, err)
		}
		if !gone {
			c.kept++
			fmt.Fprintf(progress, "backfill: reconcile: %s is missing from the list, but Clerk has it: kept\n", id)
			continue
		}
		at := time.Now()
		if dryRun {
			c.reconciled++
			fmt.Fprintf(progress, "backfill: reconcile: %s was deleted in Clerk (404): would be tombstoned\n", id)
			continue
		}
		res, err := svc.Delete(ctx, id, at)
		if err != nil {
			return c, fmt.Errorf("reconcile: tombstone %s: %w", id, err)
		}
		if res.Outcome == users.Deleted { // else a user.deleted got there first
			c.reconciled++
		}
		fmt.Fprintf(progress, "backfill: reconcile: %s was deleted in Clerk (404): tombstoned\n", id)
	}
	return c, nil
}

// countLiveUsers counts the users that are not tombstones.
func countLiveUsers(ctx context.Context, db bun.IDB) (int, error) {
	n, err := db.NewSelect().Model((*users.User)(nil)).Where("deleted_at IS NULL").Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return int(n), nil
}

// liveUsersNotIn returns the ids of live users that listed does not hold,
// ascending, reading the table in pages.
func liveUsersNotIn(ctx context.Context, db bun.IDB, listed map[string]bool) ([]string, error) {
	var out []string
	for after := ""; ; {
		var ids []string
		err := db.NewSelect().Model((*users.User)(nil)).Column("clerk_user_id").
			Where("deleted_at IS NULL AND clerk_user_id > ?", after).
			Order("clerk_user_id").Limit(clerk.MaxPageSize).Scan(ctx, &ids)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, id := range ids {
			if !listed[id] {
				out = append(out, id)
			}
		}
		if len(ids) < clerk.MaxPageSize {
			return out, nil
		}
		after = ids[len(ids)-1]
	}
}

// plausibleClerkID tells whether id can be looked up as a path segment:
// Clerk's ids are a prefix and base62 ("user_2abc…").
func plausibleClerkID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

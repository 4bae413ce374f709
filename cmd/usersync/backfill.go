package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/users"
)

// errRollback ends a dry run's transaction without committing.
var errRollback = errors.New("dry run: rolled back")

func cmdBackfill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "report what would change, write nothing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync backfill [--dry-run]: upsert every user of Clerk's Backend API (CLERK_SECRET_KEY, CLERK_API_URL).")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreDone(err)
	}
	cfg, logger, err := setup(getenv, stderr)
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
		fmt.Fprintf(stderr, "backfill: rate limited by Clerk, waiting %s\n", wait)
	}
	counts, err := backfill(ctx, api, db, *dryRun, stderr)
	prefix := "backfill"
	if *dryRun {
		prefix = "backfill (dry run, nothing written)"
	}
	fmt.Fprintf(stdout, "%s: %d users: %d created, %d updated, %d unchanged, %d stale, %d deleted\n",
		prefix, counts.total(), counts[users.Created], counts[users.Updated], counts[users.Unchanged],
		counts[users.Stale], counts[users.Gone])
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
// what a real run would do.
func backfill(ctx context.Context, api *clerk.Backend, db *bun.DB, dryRun bool, progress io.Writer) (outcomeCounts, error) {
	counts := outcomeCounts{}
	svc := users.NewService(db)
	for offset := int64(0); ; {
		page, err := api.ListUsers(ctx, offset, clerk.MaxPageSize)
		if err != nil {
			return counts, err
		}
		err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			txSvc := svc.WithTx(tx)
			for _, u := range page.Users {
				res, err := txSvc.Upsert(ctx, u.Write(users.WriterBackfill))
				if err != nil {
					return fmt.Errorf("user %s: %w", u.ID, err)
				}
				counts[res.Outcome]++
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

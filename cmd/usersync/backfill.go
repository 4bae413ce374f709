package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// backfillPageSize is Clerk's largest page of GET /v1/users.
const backfillPageSize = 500

// maxRateLimitWaits bounds how many 429s in a row one page may meet.
const maxRateLimitWaits = 10

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
	cfg, _, err := setup(getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.ClerkSecretKey == "" {
		return errors.New("backfill: CLERK_SECRET_KEY is not configured")
	}
	db, err := migrations.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()

	client := user.NewClient(&clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		Key:        clerk.String(cfg.ClerkSecretKey),
		URL:        clerk.String(cfg.ClerkAPIURL),
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
	}})
	counts, err := backfill(ctx, client, db, *dryRun, stderr)
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

// backfill pages through Clerk's users (oldest first, so that users
// created meanwhile land on later pages rather than shifting offsets)
// and upserts each one as writer backfill, versioned by its updated_at.
// A dry run makes the same writes in a transaction that it rolls back,
// so it reports exactly what a real run would do.
func backfill(ctx context.Context, client *user.Client, db *bun.DB, dryRun bool, progress io.Writer) (outcomeCounts, error) {
	counts := outcomeCounts{}
	svc := users.NewService(db)
	for offset := int64(0); ; {
		page, err := listPage(ctx, client, offset, progress)
		if err != nil {
			return counts, err
		}
		err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			txSvc := svc.WithTx(tx)
			for _, u := range page.Users {
				d := webhooks.UserFromClerk(u)
				res, err := txSvc.Upsert(ctx, users.Write{
					ClerkUserID: d.ClerkUserID, Email: d.Email, Name: d.Name,
					Version: d.UpdatedAt, Writer: users.WriterBackfill,
				})
				if err != nil {
					return fmt.Errorf("user %s: %w", d.ClerkUserID, err)
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
		if len(page.Users) < backfillPageSize {
			return counts, nil
		}
	}
}

// listPage fetches one page, waiting out 429s as Retry-After asks.
func listPage(ctx context.Context, client *user.Client, offset int64, progress io.Writer) (*clerk.UserList, error) {
	params := &user.ListParams{OrderBy: clerk.String("+created_at")}
	params.Limit = clerk.Int64(backfillPageSize)
	params.Offset = clerk.Int64(offset)
	for waits := 0; ; waits++ {
		page, err := client.List(ctx, params)
		var apiErr *clerk.APIErrorResponse
		if err == nil || !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusTooManyRequests || waits == maxRateLimitWaits {
			if err != nil {
				return nil, fmt.Errorf("list Clerk users at offset %d: %w", offset, err)
			}
			return page, nil
		}
		wait := retryAfter(apiErr)
		fmt.Fprintf(progress, "backfill: rate limited by Clerk, waiting %s\n", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// retryAfter reads a 429's Retry-After (seconds or an HTTP date); 1 s if absent.
func retryAfter(e *clerk.APIErrorResponse) time.Duration {
	if e.Response == nil {
		return time.Second
	}
	v := e.Response.Header.Get("Retry-After")
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return time.Second
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/retention"
)

// migrate and prune are the database's upkeep by hand: its schema and its
// expired history.
func (c cli) migrate(ctx context.Context, args []string) error {
	fs := newFlags("migrate", "usersync migrate up|down|status: apply pending migrations, roll back the last group, or list them.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("migrate: want one of up, down, status")
	}
	cfg, _, err := c.setup()
	if err != nil {
		return err
	}
	db, err := migrations.OpenWith(ctx, cfg.DatabaseURL, migrations.Options{MaxOpenConns: cfg.DBMaxOpenConns})
	if err != nil {
		return err
	}
	defer db.Close()

	switch fs.Arg(0) {
	case "up":
		applied, err := migrations.Up(ctx, db)
		if err != nil {
			return err
		}
		printNames(c.stdout, applied, "applied", "nothing to apply")
	case "down":
		rolled, err := migrations.Down(ctx, db)
		if err != nil {
			return err
		}
		printNames(c.stdout, rolled, "rolled back", "nothing to roll back")
	case "status":
		list, err := migrations.List(ctx, db)
		if err != nil {
			return err
		}
		for _, m := range list {
			state := "pending"
			if m.Applied {
				state = fmt.Sprintf("applied (group %d)", m.GroupID)
			}
			fmt.Fprintf(c.stdout, "%-50s %s\n", m.Name, state)
		}
	default:
		fs.Usage()
		return fmt.Errorf("migrate: unknown action %q (want up, down or status)", fs.Arg(0))
	}
	return nil
}

// printNames prints a line "done name" for each name, or none when there
// are no names.
func printNames(w io.Writer, names []string, done, none string) {
	if len(names) == 0 {
		fmt.Fprintln(w, none)
	}
	for _, name := range names {
		fmt.Fprintf(w, "%s %s\n", done, name)
	}
}

func (c cli) prune(ctx context.Context, args []string) error {
	fs := newFlags("prune", "usersync prune [--dry-run]: remove now what LOCATION_RETENTION and WEBHOOK_EVENT_RETENTION have expired, as serve's pruner does, and print it.")
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, logger, db, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()

	pruner := retention.New(db, cfg.Retention(), logger)
	if !*dryRun {
		created, err := pruner.EnsurePartitions(ctx)
		if len(created) > 0 {
			fmt.Fprintf(c.stdout, "prune: partitions created: %s\n", strings.Join(created, ", "))
		}
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	rep, err := pruner.Pass(ctx, *dryRun)
	if errors.Is(err, retention.ErrBusy) {
		return fmt.Errorf("prune: %w (another usersync's pruner); nothing removed, try again when it is done", err)
	}
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	printPruneReport(c.stdout, rep)
	return nil
}

// printPruneReport prints one line per table: what went, or would.
func printPruneReport(w io.Writer, rep retention.Report) {
	prefix, verb := "prune", "removed"
	if rep.DryRun {
		prefix, verb = "prune (dry run, nothing removed)", "would be removed"
	}
	loc := rep.Locations
	if !loc.Enabled {
		fmt.Fprintf(w, "%s: locations: kept forever (LOCATION_RETENTION is not set)\n", prefix)
	} else {
		var parts []string
		for _, d := range loc.Dropped {
			parts = append(parts, fmt.Sprintf("%s (%d)", d.Name, d.Points))
		}
		dropped := "no partition dropped"
		if len(parts) > 0 {
			dropped = fmt.Sprintf("%d in whole partitions: %s", loc.Removed()-loc.Deleted, strings.Join(parts, ", "))
		}
		fmt.Fprintf(w, "%s: locations recorded before %s: %d points %s (%s; %d one by one); %d devices' last location cleared\n",
			prefix, loc.Cutoff.Format(time.RFC3339), loc.Removed(), verb, dropped, loc.Deleted, loc.LatestCleared)
		if len(loc.Deferred) > 0 {
			fmt.Fprintf(w, "%s: partitions not dropped yet (their lock was not granted in time): %s\n", prefix, strings.Join(loc.Deferred, ", "))
		}
	}
	ev := rep.Events
	if !ev.Enabled {
		fmt.Fprintf(w, "%s: webhook_events: kept forever\n", prefix)
		return
	}
	fmt.Fprintf(w, "%s: webhook_events last received before %s: %d records %s\n", prefix, ev.Cutoff.Format(time.RFC3339), ev.Deleted, verb)
}

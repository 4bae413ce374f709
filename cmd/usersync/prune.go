package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/retention"
)

func cmdPrune(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "report what would be removed, remove nothing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync prune [--dry-run]: remove now what LOCATION_RETENTION and WEBHOOK_EVENT_RETENTION have expired, as serve's pruner does, and print it.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreDone(err)
	}
	cfg, logger, err := setup(getenv, stderr)
	if err != nil {
		return err
	}
	db, err := app.OpenDB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	pruner := retention.New(db, cfg.Retention(), logger)
	if !*dryRun {
		created, err := pruner.EnsurePartitions(ctx)
		if len(created) > 0 {
			fmt.Fprintf(stdout, "prune: partitions created: %s\n", strings.Join(created, ", "))
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
	printPruneReport(stdout, rep)
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

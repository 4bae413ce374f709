package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/webhooks"
)

func cmdEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const help = "usersync events list|replay: list stored webhook events, or replay them through the upsert service. Each takes -h."
	if len(args) == 0 {
		fmt.Fprintln(stderr, help)
		return errors.New("events: want list or replay")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintln(stdout, help)
		return nil
	case "list":
		return cmdEventsList(ctx, args[1:], getenv, stdout, stderr)
	case "replay":
		return cmdEventsReplay(ctx, args[1:], getenv, stdout, stderr)
	default:
		fmt.Fprintln(stderr, help)
		return fmt.Errorf("events: unknown action %q (want list or replay)", args[0])
	}
}

// timeFlag is an RFC 3339 flag value.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2026-11-27T00:00:00Z")
	}
	f.t = t
	return nil
}

// openWebhooks opens the database and the webhook service over it.
func openWebhooks(ctx context.Context, getenv func(string) string, stderr io.Writer) (*webhooks.Service, func(), error) {
	cfg, logger, err := setup(getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	db, err := app.OpenDB(ctx, cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	us, err := usersService(ctx, db)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return webhooks.NewService(db, us), func() { db.Close() }, nil
}

func cmdEventsList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events list", flag.ContinueOnError)
	outcome := fs.String("outcome", "", "only events with this outcome (applied, unchanged, stale, ignored, failed)")
	eventType := fs.String("type", "", "only events of this type, e.g. user.updated")
	var since timeFlag
	fs.Var(&since, "since", "only events first received at or after this RFC 3339 time")
	limit := fs.Int("limit", webhooks.DefaultLimit, "at most this many events, newest first")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync events list [--outcome O] [--type T] [--since RFC3339] [--limit N] [--json]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreDone(err)
	}
	if *limit < 1 {
		return errors.New("events list: --limit must be at least 1")
	}
	svc, closeDB, err := openWebhooks(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()

	f := webhooks.Filter{Outcome: *outcome, Type: *eventType, Since: since.t}
	var all []webhooks.StoredEvent
	for len(all) < *limit {
		f.Limit = min(*limit-len(all), webhooks.MaxLimit)
		page, next, err := svc.List(ctx, f)
		if err != nil {
			return fmt.Errorf("events list: %w", err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range all {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRST RECEIVED\tSVIX ID\tTYPE\tCLERK USER\tOUTCOME\tATTEMPTS\tERROR")
	for _, e := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", jsontime.Format(e.FirstReceivedAt), e.SvixID, e.Type,
			orDash(e.ClerkUserID), e.Outcome, e.Attempts, orDash(e.Error))
	}
	return tw.Flush()
}

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func cmdEventsReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events replay", flag.ContinueOnError)
	outcome := fs.String("outcome", "", "replay events with this outcome")
	var since, until timeFlag
	fs.Var(&since, "since", "replay events first received at or after this RFC 3339 time")
	fs.Var(&until, "until", "replay events first received before this RFC 3339 time")
	dryRun := fs.Bool("dry-run", false, "list what would be replayed, change nothing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync events replay [ID…] [--outcome O] [--since T] [--until T] [--dry-run]\n"+
			"Replays the named events, or every event matching the filters, through the upsert service.")
		fs.PrintDefaults()
	}
	ids, err := parseInterspersed(fs, args, stdout)
	if err != nil {
		return ignoreDone(err)
	}
	svc, closeDB, err := openWebhooks(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer closeDB()

	sum := webhooks.Summary{DryRun: *dryRun, Outcomes: map[string]int{}}
	line := func(res webhooks.Result, failure error) {
		fmt.Fprintf(stdout, "%s\t%s\t%s", res.SvixID, res.Type, res.Outcome)
		if failure != nil {
			fmt.Fprintf(stdout, "\t%v", failure)
		}
		fmt.Fprintln(stdout)
	}
	if len(ids) > 0 {
		for _, id := range ids {
			var res webhooks.Result
			var failure error
			if *dryRun {
				ev, err := svc.Get(ctx, id)
				if err != nil {
					return fmt.Errorf("events replay %s: %w", id, err)
				}
				res = webhooks.Result{SvixID: ev.SvixID, Type: ev.Type, Outcome: ev.Outcome}
			} else {
				res, failure = svc.Replay(ctx, id)
				if failure != nil && !errors.Is(failure, webhooks.ErrNotClerkEvent) {
					return fmt.Errorf("events replay %s: %w", id, failure)
				}
				sum.Outcomes[string(res.Outcome)]++
			}
			sum.Matched++
			line(res, failure)
		}
	} else {
		f := webhooks.Filter{Outcome: *outcome, Since: since.t, Until: until.t}
		if sum, err = svc.ReplayMatching(ctx, f, *dryRun, line); err != nil {
			return fmt.Errorf("events replay: %w", err)
		}
	}

	var parts []string
	for _, o := range []webhooks.Outcome{webhooks.OutcomeApplied, webhooks.OutcomeUnchanged, webhooks.OutcomeStale,
		webhooks.OutcomeIgnored, webhooks.OutcomeFailed} {
		parts = append(parts, fmt.Sprintf("%s=%d", o, sum.Outcomes[string(o)]))
	}
	if *dryRun {
		fmt.Fprintf(stdout, "dry run: %d events would be replayed\n", sum.Matched)
	} else {
		fmt.Fprintf(stdout, "replayed %d events: %s\n", sum.Matched, strings.Join(parts, " "))
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments (the flag package stops at the first positional).
func parseInterspersed(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args, stdout); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

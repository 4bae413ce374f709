package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/webhooks"
)

func (c cli) events(ctx context.Context, args []string) error {
	const help = "usersync events list|replay: list stored webhook events, or replay them through the upsert service. Each takes -h."
	return c.runAction(ctx, args, "events", help, "list or replay", map[string]func(context.Context, []string) error{
		"list":   c.eventsList,
		"replay": c.eventsReplay,
	})
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
func (c cli) openWebhooks(ctx context.Context) (*webhooks.Service, func(), error) {
	_, _, db, err := c.openDB(ctx)
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

func (c cli) eventsList(ctx context.Context, args []string) error {
	fs := newFlags("events list", "usersync events list [--outcome O] [--type T] [--since RFC3339] [--limit N] [--json]")
	outcome := fs.String("outcome", "", "only events with this outcome (applied, unchanged, stale, ignored, failed)")
	eventType := fs.String("type", "", "only events of this type, e.g. user.updated")
	var since timeFlag
	fs.Var(&since, "since", "only events first received at or after this RFC 3339 time")
	limit := fs.Int("limit", webhooks.DefaultLimit, "at most this many events, newest first")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *limit < 1 {
		return errors.New("events list: --limit must be at least 1")
	}
	svc, closeDB, err := c.openWebhooks(ctx)
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
		enc := json.NewEncoder(c.stdout)
		for _, e := range all {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
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

func (c cli) eventsReplay(ctx context.Context, args []string) error {
	fs := newFlags("events replay", "usersync events replay [ID…] [--outcome O] [--since T] [--until T] [--dry-run]\n"+
		"Replays the named events, or every event matching the filters, through the upsert service.")
	outcome := fs.String("outcome", "", "replay events with this outcome")
	var since, until timeFlag
	fs.Var(&since, "since", "replay events first received at or after this RFC 3339 time")
	fs.Var(&until, "until", "replay events first received before this RFC 3339 time")
	dryRun := fs.Bool("dry-run", false, "list what would be replayed, change nothing")
	ids, err := c.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	svc, closeDB, err := c.openWebhooks(ctx)
	if err != nil {
		return err
	}
	defer closeDB()

	sum := webhooks.Summary{DryRun: *dryRun, Outcomes: map[string]int{}}
	line := func(res webhooks.Result, failure error) {
		fmt.Fprintf(c.stdout, "%s\t%s\t%s", res.SvixID, res.Type, res.Outcome)
		if failure != nil {
			fmt.Fprintf(c.stdout, "\t%v", failure)
		}
		fmt.Fprintln(c.stdout)
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
		fmt.Fprintf(c.stdout, "dry run: %d events would be replayed\n", sum.Matched)
	} else {
		fmt.Fprintf(c.stdout, "replayed %d events: %s\n", sum.Matched, strings.Join(parts, " "))
	}
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments (the flag package stops at the first positional).
func (c cli) parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := c.parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

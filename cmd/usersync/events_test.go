package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// evtT0 is when the seeded event log begins.
var evtT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// evtUserEvent is a user.created or user.updated body as Clerk sends it.
func evtUserEvent(t *testing.T, eventType, id, email, name string, updatedAt time.Time) []byte {
	return testkit.UserEvent(eventType, id, email, name, "", updatedAt)
}

func evtEnvelope(t *testing.T, eventType string, data map[string]any, at time.Time) []byte {
	t.Helper()
	return testkit.Envelope(t, eventType, data, at)
}

// evtSeed migrates the database at databaseURL and delivers six events
// through the webhook service, received a minute apart from evtT0. It
// returns the service for checks.
func evtSeed(t *testing.T, databaseURL string) (*webhooks.Service, *bun.DB) {
	t.Helper()
	db := dbtest.Open(t, databaseURL)
	svc := webhooks.NewService(db, users.NewService(db))
	v0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, s := range []struct {
		id      string
		body    []byte
		outcome webhooks.Outcome
	}{
		{"ev_1", evtUserEvent(t, "user.created", "user_a", "a1@example.com", "Ann", v0), webhooks.OutcomeApplied},
		{"ev_2", evtUserEvent(t, "user.updated", "user_a", "a2@example.com", "Ann", v0.Add(time.Hour)), webhooks.OutcomeApplied},
		{"ev_3", evtUserEvent(t, "user.updated", "user_a", "a3@example.com", "Ann", v0.Add(time.Minute)), webhooks.OutcomeStale},
		{"ev_4", evtEnvelope(t, "session.created", map[string]any{"id": "sess_1", "object": "session"}, v0), webhooks.OutcomeIgnored},
		{"ev_5", []byte(`{"type":"user.updated","data":{"first_name":"Nobody"}}`), webhooks.OutcomeFailed},
		{"ev_6", evtUserEvent(t, "user.created", "user_b", "b@example.com", "Bo", v0), webhooks.OutcomeApplied},
	} {
		res, err := svc.Deliver(context.Background(), s.id, s.body, evtT0.Add(time.Duration(i)*time.Minute))
		if err != nil && !errors.Is(err, webhooks.ErrNotClerkEvent) {
			t.Fatalf("Deliver(%s): %v", s.id, err)
		}
		if res.Outcome != s.outcome {
			t.Fatalf("Deliver(%s) = %s, want %s", s.id, res.Outcome, s.outcome)
		}
	}
	return svc, db
}

// evtRun runs usersync with args against databaseURL.
func evtRun(t *testing.T, databaseURL string, args ...string) (stdout string, err error) {
	t.Helper()
	stdout, stderr, err := runUsersync(t, map[string]string{"DATABASE_URL": databaseURL}, args...)
	if stderr != "" {
		t.Logf("%v stderr:\n%s", args, stderr)
	}
	return stdout, err
}

// evtMustRun is evtRun for commands that must succeed.
func evtMustRun(t *testing.T, databaseURL string, args ...string) string {
	t.Helper()
	out, err := evtRun(t, databaseURL, args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

// evtJSONKeys are the keys of an event, as the admin API has them.
var evtJSONKeys = []string{"attempts", "clerk_user_id", "error", "first_received_at", "last_applied_at",
	"last_received_at", "outcome", "svix_id", "type"}

// evtListJSON runs `events list --json` with more flags; it checks that
// every line is one event with exactly the admin keys and returns them.
func evtListJSON(t *testing.T, databaseURL string, flags ...string) []webhooks.StoredEvent {
	t.Helper()
	out := evtMustRun(t, databaseURL, append([]string{"events", "list", "--json"}, flags...)...)
	events := []webhooks.StoredEvent{}
	for line := range strings.Lines(out) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", line, err)
		}
		if diff := cmp.Diff(evtJSONKeys, slices.Sorted(maps.Keys(raw))); diff != "" {
			t.Fatalf("keys of %s (-want +got):\n%s", line, diff)
		}
		var ev webhooks.StoredEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return events
}

func evtIDs(events []webhooks.StoredEvent) []string {
	ids := []string{}
	for _, e := range events {
		ids = append(ids, e.SvixID)
	}
	return ids
}

func TestEventsList(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		evtSeed(t, databaseURL)

		t.Run("table", func(t *testing.T) {
			t.Parallel()
			out := evtMustRun(t, databaseURL, "events", "list")
			lines := slices.Collect(strings.Lines(out))
			if len(lines) != 7 {
				t.Fatalf("%d lines, want a header and 6 events:\n%s", len(lines), out)
			}
			if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"FIRST", "RECEIVED", "SVIX", "ID", "TYPE",
				"CLERK", "USER", "OUTCOME", "ATTEMPTS", "ERROR"}) {
				t.Errorf("header = %q", lines[0])
			}
			at := func(i int) string {
				return evtT0.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05.000Z")
			}
			want := [][]string{
				{at(5), "ev_6", "user.created", "user_b", "applied", "1", "-"},
				{at(4), "ev_5", "user.updated", "-", "failed", "1"},
				{at(3), "ev_4", "session.created", "-", "ignored", "1", "-"},
				{at(2), "ev_3", "user.updated", "user_a", "stale", "1", "-"},
				{at(1), "ev_2", "user.updated", "user_a", "applied", "1", "-"},
				{at(0), "ev_1", "user.created", "user_a", "applied", "1", "-"},
			}
			for i, w := range want {
				got := strings.Fields(lines[i+1])
				if len(got) < len(w) || !slices.Equal(got[:len(w)], w) {
					t.Errorf("row %d = %q, want it to start with %q", i+1, lines[i+1], strings.Join(w, " "))
				}
			}
			// The failed event's row ends with its error.
			if !strings.Contains(lines[2], `"data.id"`) {
				t.Errorf("failed row %q does not show the error", lines[2])
			}
		})

		t.Run("json", func(t *testing.T) {
			t.Parallel()
			events := evtListJSON(t, databaseURL)
			if diff := cmp.Diff([]string{"ev_6", "ev_5", "ev_4", "ev_3", "ev_2", "ev_1"}, evtIDs(events)); diff != "" {
				t.Fatalf("ids mismatch (-want +got):\n%s", diff)
			}
			for i, e := range events {
				wantAt := evtT0.Add(time.Duration(5-i) * time.Minute)
				if !e.FirstReceivedAt.Equal(wantAt) || e.Attempts != 1 || e.Payload != nil {
					t.Errorf("%s: first_received_at %v attempts %d payload %s; want %v, 1, none",
						e.SvixID, e.FirstReceivedAt, e.Attempts, e.Payload, wantAt)
				}
			}
			if e := events[1]; e.Outcome != webhooks.OutcomeFailed || e.Error == nil || e.ClerkUserID != nil {
				t.Errorf("ev_5 = %+v, want failed with an error and no user", e)
			}
			if e := events[0]; e.ClerkUserID == nil || *e.ClerkUserID != "user_b" || e.Type != "user.created" {
				t.Errorf("ev_6 = %+v", e)
			}
		})

		for _, tt := range []struct {
			flags []string
			want  []string
		}{
			{[]string{"--outcome", "applied"}, []string{"ev_6", "ev_2", "ev_1"}},
			{[]string{"--outcome=stale"}, []string{"ev_3"}},
			{[]string{"--type", "user.updated"}, []string{"ev_5", "ev_3", "ev_2"}},
			{[]string{"--since", evtT0.Add(3 * time.Minute).Format(time.RFC3339)}, []string{"ev_6", "ev_5", "ev_4"}},
			{[]string{"--limit", "2"}, []string{"ev_6", "ev_5"}},
			{[]string{"--outcome", "applied", "--type", "user.created", "--limit", "1"}, []string{"ev_6"}},
			{[]string{"--type", "user.nothing"}, []string{}},
		} {
			t.Run(strings.Join(tt.flags, " "), func(t *testing.T) {
				t.Parallel()
				if diff := cmp.Diff(tt.want, evtIDs(evtListJSON(t, databaseURL, tt.flags...))); diff != "" {
					t.Errorf("mismatch (-want +got):\n%s", diff)
				}
			})
		}

		t.Run("bad flags", func(t *testing.T) {
			t.Parallel()
			for _, tt := range []struct {
				flags []string
				want  string
			}{
				{[]string{"--since", "yesterday"}, "RFC 3339"},
				{[]string{"--limit", "0"}, "--limit"},
				{[]string{"--limit", "many"}, "limit"},
				{[]string{"--outcome", "bogus"}, "outcome"},
				{[]string{"--colour"}, "colour"},
			} {
				_, err := evtRun(t, databaseURL, append([]string{"events", "list"}, tt.flags...)...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("events list %v: error %v, want one mentioning %q", tt.flags, err, tt.want)
				}
			}
		})
	})
}

// TestEventsListPages lists more events than one page of the service holds.
func TestEventsListPages(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		db := dbtest.Open(t, databaseURL)
		svc := webhooks.NewService(db, users.NewService(db))
		const n = webhooks.MaxLimit + 5
		for i := range n {
			body := evtEnvelope(t, "session.created", map[string]any{"id": fmt.Sprintf("sess_%d", i)}, evtT0)
			if _, err := svc.Deliver(context.Background(), fmt.Sprintf("ev_%04d", i), body, evtT0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			flags []string
			want  int
		}{
			{nil, webhooks.DefaultLimit},
			{[]string{"--limit", fmt.Sprint(n - 2)}, n - 2},
			{[]string{"--limit", fmt.Sprint(n + 100)}, n},
		} {
			ids := evtIDs(evtListJSON(t, databaseURL, tt.flags...))
			if len(ids) != tt.want {
				t.Errorf("events list %v: %d events, want %d", tt.flags, len(ids), tt.want)
				continue
			}
			for i, id := range ids {
				if want := fmt.Sprintf("ev_%04d", n-1-i); id != want {
					t.Fatalf("events list %v: event %d is %s, want %s (newest first, each once)", tt.flags, i, id, want)
				}
			}
		}
	})
}

func TestEventsReplay(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		svc, db := evtSeed(t, databaseURL)
		ctx := context.Background()
		get := func(t *testing.T, id string) webhooks.StoredEvent {
			t.Helper()
			ev, err := svc.Get(ctx, id)
			if err != nil {
				t.Fatalf("Get(%s): %v", id, err)
			}
			return ev
		}
		// lastApplied are the events' last_applied_at, "" for none.
		lastApplied := func(t *testing.T) map[string]string {
			t.Helper()
			out := map[string]string{}
			for _, id := range []string{"ev_1", "ev_2", "ev_3", "ev_4", "ev_5", "ev_6"} {
				if at := get(t, id).LastAppliedAt; at != nil {
					out[id] = at.Format(time.RFC3339Nano)
				} else {
					out[id] = ""
				}
			}
			return out
		}
		wantReplayed := func(t *testing.T, before map[string]string, want ...string) {
			t.Helper()
			var got []string
			for id, at := range lastApplied(t) {
				if at != before[id] {
					got = append(got, id)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("events replayed = %v, want %v", got, want)
			}
		}

		// The steps depend on each other's outcomes: they run in order.
		t.Run("by id", func(t *testing.T) {
			before := lastApplied(t)
			out := evtMustRun(t, databaseURL, "events", "replay", "ev_2", "ev_3")
			want := "ev_2\tuser.updated\tunchanged\n" +
				"ev_3\tuser.updated\tstale\n" +
				"replayed 2 events: applied=0 unchanged=1 stale=1 ignored=0 failed=0\n"
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
			wantReplayed(t, before, "ev_2", "ev_3")
			for _, id := range []string{"ev_2", "ev_3"} {
				if ev := get(t, id); ev.Attempts != 1 {
					t.Errorf("%s attempts = %d after a replay, want 1", id, ev.Attempts)
				}
			}
		})

		t.Run("a failed event by id", func(t *testing.T) {
			out := evtMustRun(t, databaseURL, "events", "replay", "ev_5")
			lines := slices.Collect(strings.Lines(out))
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "ev_5\tuser.updated\tfailed\t") || !strings.Contains(lines[0], "data.id") {
				t.Errorf("output = %q, want the failure and a summary", out)
			}
			if len(lines) == 2 && lines[1] != "replayed 1 events: applied=0 unchanged=0 stale=0 ignored=0 failed=1\n" {
				t.Errorf("summary = %q", lines[1])
			}
		})

		t.Run("dry run of the failed events", func(t *testing.T) {
			// A mark that a real replay would overwrite.
			if _, err := db.NewUpdate().Table("webhook_events").Set("error = ?", "marked").
				Where("svix_id = ?", "ev_5").Exec(ctx); err != nil {
				t.Fatal(err)
			}
			before := lastApplied(t)
			out := evtMustRun(t, databaseURL, "events", "replay", "--outcome", "failed", "--dry-run")
			if want := "ev_5\tuser.updated\tfailed\ndry run: 1 events would be replayed\n"; out != want {
				t.Errorf("output = %q, want %q", out, want)
			}
			wantReplayed(t, before)
			if ev := get(t, "ev_5"); ev.Error == nil || *ev.Error != "marked" {
				t.Errorf("error = %v after a dry run, want the mark kept", ev.Error)
			}

			out = evtMustRun(t, databaseURL, "events", "replay", "--outcome", "failed")
			if !strings.HasSuffix(out, "replayed 1 events: applied=0 unchanged=0 stale=0 ignored=0 failed=1\n") {
				t.Errorf("output = %q", out)
			}
			if ev := get(t, "ev_5"); ev.Error == nil || *ev.Error == "marked" {
				t.Errorf("error = %v after a real replay, want the failure again", ev.Error)
			}
		})

		t.Run("flags after ids", func(t *testing.T) {
			before := lastApplied(t)
			out := evtMustRun(t, databaseURL, "events", "replay", "ev_1", "--dry-run", "ev_6")
			want := "ev_1\tuser.created\tapplied\nev_6\tuser.created\tapplied\ndry run: 2 events would be replayed\n"
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
			wantReplayed(t, before)
		})

		t.Run("by time", func(t *testing.T) {
			before := lastApplied(t)
			out := evtMustRun(t, databaseURL, "events", "replay",
				"--since", evtT0.Add(3*time.Minute).Format(time.RFC3339), "--until", evtT0.Add(5*time.Minute).Format(time.RFC3339))
			want := "ev_4\tsession.created\tignored\n" +
				"ev_5\tuser.updated\tfailed\t" + *get(t, "ev_5").Error + "\n" +
				"replayed 2 events: applied=0 unchanged=0 stale=0 ignored=1 failed=1\n"
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
			wantReplayed(t, before, "ev_4")
		})

		t.Run("everything", func(t *testing.T) {
			before := lastApplied(t)
			out := evtMustRun(t, databaseURL, "events", "replay")
			if !strings.HasSuffix(out, "replayed 6 events: applied=0 unchanged=2 stale=2 ignored=1 failed=1\n") {
				t.Errorf("output = %q", out)
			}
			wantReplayed(t, before, "ev_1", "ev_2", "ev_3", "ev_4", "ev_6")
			u, err := users.NewService(db).Get(ctx, "user_a")
			if err != nil || u.Email == nil || *u.Email != "a2@example.com" {
				t.Errorf("user_a after replaying everything = %+v, %v; want the newest email", u, err)
			}
		})

		t.Run("unknown id", func(t *testing.T) {
			before := lastApplied(t)
			_, err := evtRun(t, databaseURL, "events", "replay", "ev_nope")
			if err == nil || !strings.Contains(err.Error(), "ev_nope") {
				t.Errorf("error = %v, want one naming ev_nope", err)
			}
			wantReplayed(t, before)
		})
	})
}

func TestEventsHelpAndErrors(t *testing.T) {
	t.Parallel()
	// The database is never opened for these.
	env := map[string]string{"DATABASE_URL": "sqlite:" + t.TempDir() + "/never/opened.db"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "-h"}, "list|replay"},
		{[]string{"events", "list", "-h"}, "--json"},
		{[]string{"events", "replay", "-h"}, "dry-run"},
		{[]string{"events", "replay", "ev_1", "-h"}, "dry-run"},
	} {
		out, _, err := runUsersync(t, env, tt.args...)
		if err != nil {
			t.Errorf("%v: %v, want exit 0", tt.args, err)
		}
		if !strings.Contains(out, tt.want) {
			t.Errorf("%v printed %q, want it to contain %q", tt.args, out, tt.want)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"events"}, "want list or replay"},
		{[]string{"events", "purge"}, `unknown action "purge"`},
		{[]string{"events", "replay", "--since", "today"}, "RFC 3339"},
	} {
		_, _, err := runUsersync(t, env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
}

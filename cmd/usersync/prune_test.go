package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// pruneSeed stores, for the prune tests, a device with 2 points 100 days
// old and 3 fresh ones, a device with only 2 old points, and event-log
// records: 2 last received 100 days ago, 1 today.
func pruneSeed(t *testing.T, db *bun.DB) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	svc := tracking.NewService(db, tracking.Config{Limits: tracking.Limits{MaxAge: 1000 * 24 * time.Hour}})
	email := "prune@example.com"
	u, err := users.NewService(db).Upsert(ctx, users.Write{ClerkUserID: "user_prune", Email: &email, Version: now})
	if err != nil {
		t.Fatal(err)
	}
	old := now.Add(-100 * 24 * time.Hour)
	for i, n := range []int{3, 0} {
		d, _, err := svc.CreateDevice(ctx, u.User.ID, tracking.NewDevice{Name: "tracker " + string(rune('A'+i))})
		if err != nil {
			t.Fatal(err)
		}
		var pts []tracking.Location
		for j := range 2 + n {
			at := old.Add(time.Duration(j) * time.Minute)
			if j >= 2 && n > 0 {
				at = now.Add(-time.Duration(j) * time.Minute)
			}
			pts = append(pts, tracking.Location{RecordedAt: at, Lat: 52.5, Lon: 13.4})
		}
		if res, err := svc.Ingest(ctx, d.ID, pts); err != nil || res.Stored != len(pts) {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
	}
	for i, at := range []time.Time{old, old.Add(time.Hour), now} {
		_, err := db.NewRaw(`INSERT INTO webhook_events (svix_id, type, payload, outcome, attempts, first_received_at, last_received_at)
			VALUES (?, 'user.updated', '{}', 'applied', 1, ?, ?)`, "msg_prune_"+string(rune('a'+i)), at, at).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func pruneCount(t *testing.T, db *bun.DB, table string) int {
	t.Helper()
	var n int
	if err := db.NewRaw("SELECT count(*) FROM ?", bun.Ident(table)).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPruneCommand: `usersync prune --dry-run` prints what a pass would
// remove and removes nothing; `usersync prune` removes it and prints it.
func TestPruneCommand(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		db := dbtest.Open(t, databaseURL)
		pruneSeed(t, db)
		prune := func(env map[string]string, args ...string) string {
			t.Helper()
			env["DATABASE_URL"] = databaseURL
			out, _, err := runUsersync(t, env, append([]string{"prune"}, args...)...)
			if err != nil {
				t.Fatalf("prune %v: %v", args, err)
			}
			return out
		}
		stamp := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`

		out := prune(map[string]string{}, "--dry-run")
		want := `prune \(dry run, nothing removed\): locations: kept forever \(LOCATION_RETENTION is not set\)\n` +
			`prune \(dry run, nothing removed\): webhook_events last received before ` + stamp + `: 2 records would be removed\n`
		if !regexp.MustCompile("^" + want + "$").MatchString(out) {
			t.Errorf("dry run without LOCATION_RETENTION printed\n%s\nwant\n%s", out, want)
		}

		env := map[string]string{"LOCATION_RETENTION": "720h", "WEBHOOK_EVENT_RETENTION": "720h"}
		out = prune(env, "--dry-run")
		want = "prune \\(dry run, nothing removed\\): locations recorded before " + stamp + ": 4 points would be removed \\([^)]*\\); 1 devices' last location cleared\n" +
			"prune \\(dry run, nothing removed\\): webhook_events last received before " + stamp + ": 2 records would be removed\n"
		if !regexp.MustCompile("^" + want + "$").MatchString(out) {
			t.Errorf("dry run printed\n%s\nwant\n%s", out, want)
		}
		if n, e := pruneCount(t, db, "locations"), pruneCount(t, db, "webhook_events"); n != 7 || e != 3 {
			t.Fatalf("a dry run left %d points and %d events, want 7 and 3", n, e)
		}

		out = prune(env)
		want = "(prune: partitions created: [^\n]*\n)?" +
			"prune: locations recorded before " + stamp + ": 4 points removed \\([^)]*\\); 1 devices' last location cleared\n" +
			"prune: webhook_events last received before " + stamp + ": 2 records removed\n"
		if !regexp.MustCompile("^" + want + "$").MatchString(out) {
			t.Errorf("prune printed\n%s\nwant\n%s", out, want)
		}
		if n, e := pruneCount(t, db, "locations"), pruneCount(t, db, "webhook_events"); n != 3 || e != 1 {
			t.Errorf("prune left %d points and %d events, want 3 and 1", n, e)
		}

		if help, _, err := runUsersync(t, nil, "prune", "-h"); err != nil || !strings.Contains(help, "dry-run") {
			t.Errorf("prune -h = %v, %q", err, help)
		}
	})
}

// TestServePrunes: serve runs the pruner: expired points and events go
// without anyone asking, pruned_total counts them, and serve still stops
// cleanly.
func TestServePrunes(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		db := dbtest.Open(t, databaseURL)
		pruneSeed(t, db)
		base, stop, logs := startServer(t, map[string]string{
			"ADDR": "127.0.0.1:0", "DATABASE_URL": databaseURL,
			"LOCATION_RETENTION": "720h", "WEBHOOK_EVENT_RETENTION": "720h",
		})
		waitFor(t, "the pruner to remove expired history", func() bool {
			return pruneCount(t, db, "locations") == 3 && pruneCount(t, db, "webhook_events") == 1
		})
		waitFor(t, "pruned_total to count it", func() bool {
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(body), `pruned_total{table="locations"} 4`) &&
				strings.Contains(string(body), `pruned_total{table="webhook_events"} 2`)
		})
		if err := stop(); err != nil {
			t.Fatalf("serve returned %v after cancel", err)
		}
		if !strings.Contains(logs.String(), `"msg":"prune pass done"`) || !strings.Contains(logs.String(), `"msg":"stopped"`) {
			t.Errorf("logs lack the pass or the clean stop:\n%s", logs)
		}
	})
}

package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// rcLocalUser stores a user that only this database knows of (a sync
// whose user was deleted in Clerk while the webhook endpoint was down).
func rcLocalUser(t *testing.T, db *bun.DB, id string) int64 {
	t.Helper()
	email := id + "@example.com"
	res, err := users.NewService(db).Upsert(context.Background(), users.Write{ClerkUserID: id, Email: &email, Version: time.Now().Add(-time.Hour), Writer: users.WriterSync})
	if err != nil {
		t.Fatal(err)
	}
	return res.User.ID
}

// rcLive is the set of live (not tombstoned) users.
func rcLive(t *testing.T, db *bun.DB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for id, u := range bfStoredUsers(t, db) {
		if !u.Deleted {
			out[id] = true
		}
	}
	return out
}

// TestBackfillReconcile: `backfill --reconcile` looks up by id each live
// local user missing from Clerk's list, and tombstones exactly those
// Clerk answers 404 for — as a user.deleted would, devices and locations
// included — at the time of the lookup. A user the lookup finds stays; a
// 429 is waited out; any other failure stops it without deleting on a
// guess; a list that misses most local users is refused outright.
func TestBackfillReconcile(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		ctx := context.Background()
		db := dbtest.Open(t, databaseURL)
		f := testkit.StartFakeClerk(t)
		f.SetUsers(bfUsers(20))
		if _, stderr, err := bfRun(t, f, databaseURL); err != nil {
			t.Fatalf("first backfill: %v\n%s", err, stderr)
		}

		// Deleted in Clerk, the webhook never came: a listed user who left,
		// and two who only ever synced here, one with a tracker and its points.
		listedGone := bfID(5)
		f.Update(listedGone, nil, true)
		goneWithDevice := rcLocalUser(t, db, "user_gone_a")
		rcLocalUser(t, db, "user_gone_b")
		trk := tracking.NewService(db, tracking.Config{})
		dev, _, err := trk.CreateDevice(ctx, goneWithDevice, tracking.NewDevice{Name: "collar"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := trk.Ingest(ctx, dev.ID, []tracking.Location{{RecordedAt: time.Now().Add(-time.Minute), Lat: 52.5, Lon: 13.4}}); err != nil {
			t.Fatal(err)
		}
		// Still in Clerk, though its list left it out.
		rcLocalUser(t, db, "user_unlisted")
		f.SetUnlisted("user_unlisted", true)
		// Tombstoned here already: never looked up.
		rcLocalUser(t, db, "user_tombstoned")
		if _, err := users.NewService(db).Delete(ctx, "user_tombstoned", time.Now()); err != nil {
			t.Fatal(err)
		}
		f.TakeLookups()
		wantLookups := []string{"user_gone_a", "user_gone_b", listedGone, "user_unlisted"}
		slices.Sort(wantLookups)

		// A dry run looks them up and writes nothing.
		before := rcLive(t, db)
		stdout, stderr, err := bfRun(t, f, databaseURL, "--reconcile", "--dry-run")
		if err != nil {
			t.Fatalf("--reconcile --dry-run: %v\n%s", err, stderr)
		}
		if want := "backfill (dry run, nothing written): reconcile: 4 live users missing from Clerk's list: 3 would be reconciled (deleted in Clerk), 1 still in Clerk, 0 skipped\n"; !strings.HasSuffix(stdout, want) {
			t.Errorf("dry-run summary = %q, want it to end with %q", stdout, want)
		}
		if diff := cmp.Diff(before, rcLive(t, db)); diff != "" {
			t.Errorf("a dry run changed who is live (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(wantLookups, f.TakeLookups()); diff != "" {
			t.Errorf("looked up (-want +got):\n%s", diff)
		}

		// The real run, with a 429 on the second lookup.
		f.ThrottleLookup(2)
		began := time.Now()
		stdout, stderr, err = bfRun(t, f, databaseURL, "--reconcile")
		ended := time.Now()
		if err != nil {
			t.Fatalf("--reconcile: %v\n%s", err, stderr)
		}
		if want := "backfill: reconcile: 4 live users missing from Clerk's list: 3 reconciled (deleted in Clerk), 1 still in Clerk, 0 skipped\n"; !strings.HasSuffix(stdout, want) {
			t.Errorf("summary = %q, want it to end with %q", stdout, want)
		}
		if !strings.Contains(stderr, "backfill: rate limited by Clerk, waiting 1s\n") {
			t.Errorf("no wait for the 429 on stderr:\n%s", stderr)
		}
		for _, line := range []string{
			"backfill: reconcile: user_gone_a was deleted in Clerk (404): tombstoned\n",
			"backfill: reconcile: user_unlisted is missing from the list, but Clerk has it: kept\n",
		} {
			if !strings.Contains(stderr, line) {
				t.Errorf("stderr lacks %q:\n%s", line, stderr)
			}
		}
		lookups := f.TakeLookups()
		if len(lookups) != 5 || lookups[1] != lookups[2] {
			t.Errorf("lookups %v: want the four, the throttled one twice", lookups)
		}
		stored := bfStoredUsers(t, db)
		for _, id := range []string{"user_gone_a", "user_gone_b", listedGone} {
			u := stored[id]
			if !u.Deleted || u.Email != nil || u.Name != nil {
				t.Errorf("%s = %+v, want a tombstone", id, u)
			}
			if u.Version < began.UnixMilli() || u.Version > ended.UnixMilli() {
				t.Errorf("%s tombstoned at %d, want the time of its lookup, within [%d, %d]", id, u.Version, began.UnixMilli(), ended.UnixMilli())
			}
		}
		if u := stored["user_unlisted"]; u.Deleted {
			t.Error("user_unlisted, whom Clerk has, was tombstoned")
		}
		if _, err := trk.GetDevice(ctx, goneWithDevice, dev.ID); err == nil {
			t.Error("the reconciled user's device survives")
		}
		var points int
		if err := db.NewRaw("SELECT count(*) FROM locations WHERE device_id = ?", dev.ID).Scan(ctx, &points); err != nil || points != 0 {
			t.Errorf("%d of the reconciled user's points survive (%v)", points, err)
		}
		if n := len(rcLive(t, db)); n != 20 {
			t.Errorf("%d live users, want Clerk's 19 and user_unlisted", n)
		}

		// A lookup that fails otherwise stops reconcile there: that user
		// and those after it are left alone, whatever Clerk says of them.
		for _, id := range []string{"user_m_flaky", "user_m_proxied", "user_z_gone"} {
			rcLocalUser(t, db, id)
		}
		for _, tc := range []struct {
			name   string
			set    func()
			failed string
		}{
			{"a 500", func() { f.FailLookup("user_m_flaky", 500) }, "user_m_flaky"},
			{"a 404 of Clerk's but not resource_not_found", func() { f.FailLookup("user_m_flaky", 404) }, "user_m_flaky"},
			{"a 404 that is not Clerk's", func() {
				f.FailLookup("user_m_flaky", 0)
				f.SetUnlisted("user_m_flaky", true)
				f.Plain404("user_m_proxied", true)
			}, "user_m_proxied"},
		} {
			tc.set()
			stdout, stderr, err = bfRun(t, f, databaseURL, "--reconcile")
			if err == nil || !strings.Contains(err.Error(), tc.failed) {
				t.Errorf("%s: error %v, want one naming %s\n%s", tc.name, err, tc.failed, stderr)
			}
			live := rcLive(t, db)
			for _, id := range []string{tc.failed, "user_z_gone"} {
				if !live[id] {
					t.Errorf("%s: %s was tombstoned", tc.name, id)
				}
			}
			if !strings.Contains(stdout, "reconcile: 4 live users missing") {
				t.Errorf("%s: no summary of what was done: %q", tc.name, stdout)
			}
		}
		// Repaired, a rerun finishes the job.
		f.Plain404("user_m_proxied", false)
		if _, stderr, err := bfRun(t, f, databaseURL, "--reconcile"); err != nil {
			t.Fatalf("rerun: %v\n%s", err, stderr)
		}
		live := rcLive(t, db)
		if live["user_m_proxied"] || live["user_z_gone"] || !live["user_m_flaky"] {
			t.Errorf("after the rerun: proxied live %v, z_gone live %v, flaky live %v; want false, false, true",
				live["user_m_proxied"], live["user_z_gone"], live["user_m_flaky"])
		}
	})
}

// TestReconcileRefusesAnotherInstance: when Clerk's list misses most of
// the users live here — a CLERK_SECRET_KEY of another Clerk instance —
// reconcile looks nobody up and tombstones nobody.
func TestReconcileRefusesAnotherInstance(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.SQLiteURL(t)
	db := dbtest.Open(t, databaseURL)
	for i := range 6 {
		rcLocalUser(t, db, "user_prod_"+string(rune('a'+i)))
	}
	other := bfUsers(4) // another instance's users, none of ours
	f := testkit.StartFakeClerk(t)
	f.SetUsers(other)
	stdout, stderr, err := bfRun(t, f, databaseURL, "--reconcile")
	if err == nil || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Errorf("error %v, want one pointing at CLERK_SECRET_KEY\n%s", err, stderr)
	}
	if l := f.TakeLookups(); len(l) != 0 {
		t.Errorf("looked up %v", l)
	}
	if n := len(rcLive(t, db)); n != 10 {
		t.Errorf("%d live users, want all 10 (6 of ours, 4 upserted from the list)", n)
	}
	if !strings.Contains(stdout, "reconcile: 6 live users missing from Clerk's list: 0 reconciled") {
		t.Errorf("summary %q", stdout)
	}
}

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
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// The commands of docs/api.md#commands on the stored users and webhook
// events: backfill (with --reconcile), which upserts Clerk's users from
// its Backend API, and events list and replay over the webhook log.

// bfUserCount is how many users the fake Clerk instance holds: more than
// two pages of 500.
const bfUserCount = 1234

// bfWant is the stored user usersync must end with for u, computed here
// independently of the service's mapping.
func bfWant(u *testkit.ClerkUser) bfStored {
	s := bfStored{Version: u.UpdatedAt}
	if u.Primary >= 0 {
		s.Email = &u.Emails[u.Primary]
	}
	var parts []string
	for _, p := range []*string{u.FirstName, u.LastName} {
		if p != nil && strings.TrimSpace(*p) != "" {
			parts = append(parts, strings.TrimSpace(*p))
		}
	}
	if len(parts) > 0 {
		name := strings.Join(parts, " ")
		s.Name = &name
	}
	return s
}

func bfStr(s string) *string { return &s }

// bfID is the id of the fake's user i.
func bfID(i int) string { return fmt.Sprintf("user_2bF%06dQx", i) }

// bfUsers are n users in order of creation, in every shape backfill must
// map: phone-only, primary email not first, null, blank and padded names.
func bfUsers(n int) []*testkit.ClerkUser {
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	out := make([]*testkit.ClerkUser, n)
	for i := range out {
		u := &testkit.ClerkUser{
			ID:        bfID(i),
			CreatedAt: base + int64(i)*60_000,
			Primary:   0,
		}
		u.UpdatedAt = u.CreatedAt + int64(i%13)*1000
		switch i % 10 {
		case 3: // signed up by phone: no email at all
			u.Primary = -1
			u.Phone = fmt.Sprintf("+1555%07d", i)
		case 5: // the primary address is not the first of the list
			u.Emails = []string{fmt.Sprintf("old.%d@example.org", i), fmt.Sprintf("User.%d@Example.com", i)}
			u.Primary = 1
		default:
			u.Emails = []string{fmt.Sprintf("user%d@example.com", i)}
		}
		switch i % 7 {
		case 0: // null names
		case 1:
			u.FirstName = bfStr(fmt.Sprintf("Ada%d", i))
		case 2:
			u.FirstName, u.LastName = bfStr(""), bfStr(fmt.Sprintf("Lovelace%d", i))
		case 3:
			u.FirstName, u.LastName = bfStr("  Grace "), bfStr(" Hopper")
		default:
			u.FirstName, u.LastName = bfStr(fmt.Sprintf("First%d", i)), bfStr(fmt.Sprintf("Last%d", i))
		}
		out[i] = u
	}
	return out
}

// startBFClerk is the fake Clerk instance with bfUserCount users.
func startBFClerk(t *testing.T) *testkit.FakeClerk {
	t.Helper()
	f := testkit.StartFakeClerk(t)
	f.SetUsers(bfUsers(bfUserCount))
	return f
}

// bfWantUsers is what the database must hold: every fake user's mapping.
func bfWantUsers(f *testkit.FakeClerk) map[string]bfStored {
	out := map[string]bfStored{}
	for _, u := range f.Users() {
		out[u.ID] = bfWant(u)
	}
	return out
}

// bfStored is a stored user as backfill leaves it.
type bfStored struct {
	Email, Name *string
	Version     int64
	Deleted     bool
}

func bfStoredUsers(t *testing.T, db *bun.DB) map[string]bfStored {
	t.Helper()
	var rows []users.User
	if err := db.NewSelect().Model(&rows).Scan(context.Background()); err != nil {
		t.Fatalf("select users: %v", err)
	}
	out := map[string]bfStored{}
	for _, u := range rows {
		out[u.ClerkUserID] = bfStored{Email: u.Email, Name: u.Name, Version: u.Version, Deleted: u.Deleted()}
	}
	return out
}

// bfRun runs `usersync backfill args…` against the fake and databaseURL.
func bfRun(t *testing.T, f *testkit.FakeClerk, databaseURL string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":     databaseURL,
		"CLERK_SECRET_KEY": f.SecretKey,
		"CLERK_API_URL":    f.APIURL(),
	}
	return runUsersync(t, env, append([]string{"backfill"}, args...)...)
}

func TestBackfill(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		db := dbtest.Open(t, databaseURL)
		f := startBFClerk(t)
		svc := users.NewService(db)
		ctx := context.Background()

		// A dry run on the fresh database reports what a run would do and
		// writes nothing.
		stdout, stderr, err := bfRun(t, f, databaseURL, "--dry-run")
		if err != nil {
			t.Fatalf("backfill --dry-run: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill (dry run, nothing written): 1234 users: 1234 created, 0 updated, 0 unchanged, 0 stale, 0 deleted\n"; stdout != want {
			t.Errorf("dry-run summary = %q, want %q", stdout, want)
		}
		if !strings.Contains(stderr, "backfill: 1234/1234 users\n") {
			t.Errorf("no progress on stderr:\n%s", stderr)
		}
		if got := bfStoredUsers(t, db); len(got) != 0 {
			t.Fatalf("a dry run wrote %d users", len(got))
		}

		f.ThrottleNextListing()
		stdout, stderr, err = bfRun(t, f, databaseURL)
		if err != nil {
			t.Fatalf("backfill: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill: 1234 users: 1234 created, 0 updated, 0 unchanged, 0 stale, 0 deleted\n"; stdout != want {
			t.Errorf("summary = %q, want %q", stdout, want)
		}
		progress := []string{
			"backfill: 500/1234 users\n",
			"backfill: rate limited by Clerk, waiting 1s\n",
			"backfill: 1000/1234 users\n",
			"backfill: 1234/1234 users\n",
		}
		last := -1
		for _, line := range progress {
			i := strings.Index(stderr, line)
			if i <= last {
				t.Errorf("stderr does not show %q after the lines before it:\n%s", line, stderr)
			}
			last = i
		}
		throttledAt, retriedAt := f.Throttled()
		if throttledAt.IsZero() {
			t.Fatal("the fake never answered 429")
		}
		if wait := retriedAt.Sub(throttledAt); wait < 900*time.Millisecond {
			t.Errorf("retried %v after the 429, want Retry-After's 1s", wait)
		}
		if strings.Contains(stderr, f.SecretKey) || strings.Contains(stdout, f.SecretKey) {
			t.Error("the secret key was printed")
		}

		want := bfWantUsers(f)
		if diff := cmp.Diff(want, bfStoredUsers(t, db)); diff != "" {
			t.Fatalf("stored users mismatch (-want +got):\n%s", diff)
		}
		// Spot checks of the shapes, independent of the mapping above.
		for id, w := range map[string]bfStored{
			"user_2bF000003Qx": {Name: bfStr("Grace Hopper")},                                      // phone-only
			"user_2bF000005Qx": {Email: bfStr("User.5@Example.com"), Name: bfStr("First5 Last5")},  // primary second
			"user_2bF000007Qx": {Email: bfStr("user7@example.com")},                                // null names
			"user_2bF000009Qx": {Email: bfStr("user9@example.com"), Name: bfStr("Lovelace9")},      // blank first name
			"user_2bF000001Qx": {Email: bfStr("user1@example.com"), Name: bfStr("Ada1")},           // no last name
			"user_2bF001233Qx": {Name: bfStr("Ada1233")},                                           // phone-only, the last page
			"user_2bF000015Qx": {Email: bfStr("User.15@Example.com"), Name: bfStr("Ada15")},        // primary second
			"user_2bF000013Qx": {Name: bfStr("First13 Last13")},                                    // phone-only
			"user_2bF000000Qx": {Email: bfStr("user0@example.com")},                                // the first
			"user_2bF000500Qx": {Email: bfStr("user500@example.com"), Name: bfStr("Grace Hopper")}, // after the 429
		} {
			u, err := svc.Get(ctx, id)
			if err != nil {
				t.Errorf("Get(%s): %v", id, err)
				continue
			}
			if diff := cmp.Diff(w, bfStored{Email: u.Email, Name: u.Name}); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", id, diff)
			}
		}

		// Nothing changed in Clerk: nothing changes here.
		stdout, stderr, err = bfRun(t, f, databaseURL)
		if err != nil {
			t.Fatalf("second backfill: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill: 1234 users: 0 created, 0 updated, 1234 unchanged, 0 stale, 0 deleted\n"; stdout != want {
			t.Errorf("second summary = %q, want %q", stdout, want)
		}
		if strings.Contains(stderr, "rate limited") {
			t.Errorf("second run waited without a 429:\n%s", stderr)
		}

		// Meanwhile: user 42 changes in Clerk; user 7 was deleted here (say
		// by a user.deleted webhook) and still changes in Clerk; user 99
		// got newer data here than Clerk's list has; user 1234 signs up.
		now := time.Now()
		f.Update(bfID(42), func(u *testkit.ClerkUser) {
			u.UpdatedAt = now.UnixMilli()
			u.Emails = []string{"renamed42@example.com"}
			u.LastName = bfStr("Renamed")
		}, false)
		f.Update(bfID(7), func(u *testkit.ClerkUser) { u.UpdatedAt = now.UnixMilli() }, false)
		if _, err := svc.Delete(ctx, "user_2bF000007Qx", now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Upsert(ctx, users.Write{ClerkUserID: "user_2bF000099Qx", Email: bfStr("hook99@example.com"),
			Name: bfStr("Hook"), Version: now, Writer: users.WriterWebhook}); err != nil {
			t.Fatal(err)
		}
		f.SetUsers(append(f.Users(), &testkit.ClerkUser{ID: "user_2bFnewQx", Emails: []string{"new@example.com"}, FirstName: bfStr("New"),
			CreatedAt: now.UnixMilli(), UpdatedAt: now.UnixMilli()}))

		stdout, stderr, err = bfRun(t, f, databaseURL)
		if err != nil {
			t.Fatalf("third backfill: %v\nstderr:\n%s", err, stderr)
		}
		if want := "backfill: 1235 users: 1 created, 1 updated, 1231 unchanged, 1 stale, 1 deleted\n"; stdout != want {
			t.Errorf("third summary = %q, want %q", stdout, want)
		}
		want = bfWantUsers(f)
		want["user_2bF000007Qx"] = bfStored{Version: now.Add(-time.Minute).UnixMilli(), Deleted: true}
		want["user_2bF000099Qx"] = bfStored{Email: bfStr("hook99@example.com"), Name: bfStr("Hook"), Version: now.UnixMilli()}
		if diff := cmp.Diff(want, bfStoredUsers(t, db)); diff != "" {
			t.Errorf("stored users after the third run mismatch (-want +got):\n%s", diff)
		}
		if u, err := svc.Get(ctx, "user_2bF000042Qx"); err != nil || *u.Email != "renamed42@example.com" || *u.Name != "Renamed" {
			t.Errorf("user 42 = %+v, %v; want Clerk's newer data", u, err)
		}
		if _, err := svc.Get(ctx, "user_2bF000007Qx"); err == nil {
			t.Error("the deleted user 7 is visible again after backfill")
		}
	})
}

func TestBackfillConfiguration(t *testing.T) {
	t.Parallel()
	f := startBFClerk(t)
	databaseURL := dbtest.SQLiteURL(t)
	db := dbtest.Open(t, databaseURL)

	_, _, err := runUsersync(t, map[string]string{"DATABASE_URL": databaseURL, "CLERK_API_URL": f.APIURL()}, "backfill")
	if err == nil || !strings.Contains(err.Error(), "CLERK_SECRET_KEY") {
		t.Errorf("without CLERK_SECRET_KEY: error %v, want one naming CLERK_SECRET_KEY", err)
	}
	if requests := f.Requests(); requests != 0 {
		t.Errorf("%d requests to Clerk without a secret key, want none", requests)
	}

	_, _, err = runUsersync(t, map[string]string{
		"DATABASE_URL": databaseURL, "CLERK_API_URL": f.APIURL(), "CLERK_SECRET_KEY": "sk_test_wrong",
	}, "backfill")
	if err == nil {
		t.Error("with a wrong CLERK_SECRET_KEY: no error")
	}
	if n := len(bfStoredUsers(t, db)); n != 0 {
		t.Errorf("%d users stored by failed runs", n)
	}

	help, _, err := runUsersync(t, nil, "backfill", "-h")
	if err != nil {
		t.Errorf("backfill -h: %v, want exit 0", err)
	}
	if !strings.Contains(help, "dry-run") {
		t.Errorf("backfill -h printed %q", help)
	}
}

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

// evtT0 is when the seeded event log begins.
var evtT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

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
		{"ev_1", testkit.UserEvent("user.created", "user_a", "a1@example.com", "Ann", "", v0), webhooks.OutcomeApplied},
		{"ev_2", testkit.UserEvent("user.updated", "user_a", "a2@example.com", "Ann", "", v0.Add(time.Hour)), webhooks.OutcomeApplied},
		{"ev_3", testkit.UserEvent("user.updated", "user_a", "a3@example.com", "Ann", "", v0.Add(time.Minute)), webhooks.OutcomeStale},
		{"ev_4", testkit.Envelope(t, "session.created", map[string]any{"id": "sess_1", "object": "session"}, v0), webhooks.OutcomeIgnored},
		{"ev_5", []byte(`{"type":"user.updated","data":{"first_name":"Nobody"}}`), webhooks.OutcomeFailed},
		{"ev_6", testkit.UserEvent("user.created", "user_b", "b@example.com", "Bo", "", v0), webhooks.OutcomeApplied},
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
			body := testkit.Envelope(t, "session.created", map[string]any{"id": fmt.Sprintf("sess_%d", i)}, evtT0)
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

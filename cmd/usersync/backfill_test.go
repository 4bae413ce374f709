package main

import (
	"context"
	"fmt"
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

package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// Ids and times of the fixtures in testdata.
const (
	marguerite = "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey" // user_created, user_updated, user_deleted
	kwame      = "user_2hR3aPh0nE0nLyUs3rXyZ9WvQtB" // user_created_phone_only
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// userEvent is a minimal user.created/updated body. An empty email gives a
// user without addresses; version is data.updated_at in Unix ms.
func userEvent(typ, id, email, firstName string, version int64) []byte {
	return testkit.UserEvent(typ, id, email, firstName, "", time.UnixMilli(version))
}

func deletedEvent(id string, timestamp int64) []byte {
	return testkit.DeletedEvent(id, time.UnixMilli(timestamp))
}

func envelope(t *testing.T, typ string, data map[string]any, timestamp int64) []byte {
	t.Helper()
	return testkit.Envelope(t, typ, data, time.UnixMilli(timestamp))
}

// eachService runs fn in parallel on each database, with a service on it.
func eachService(t *testing.T, fn func(t *testing.T, db *bun.DB, s *webhooks.Service)) {
	t.Helper()
	eachWithUsers(t, func(t *testing.T, db *bun.DB, _ *users.Service, s *webhooks.Service) { fn(t, db, s) })
}

// eachWithUsers is eachService for tests that also write users as the
// app's sync does: u is the users service that s writes through.
func eachWithUsers(t *testing.T, fn func(t *testing.T, db *bun.DB, u *users.Service, s *webhooks.Service)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		u := users.NewService(db)
		fn(t, db, u, webhooks.NewService(db, u))
	})
}

func deliver(t *testing.T, s *webhooks.Service, svixID string, body []byte, at time.Time, want webhooks.Outcome) webhooks.Result {
	t.Helper()
	res, err := s.Deliver(context.Background(), svixID, body, at)
	if err != nil {
		t.Fatalf("Deliver(%s): %v", svixID, err)
	}
	if res.Outcome != want {
		t.Fatalf("Deliver(%s) outcome = %s, want %s", svixID, res.Outcome, want)
	}
	return res
}

func get(t *testing.T, s *webhooks.Service, svixID string) webhooks.StoredEvent {
	t.Helper()
	ev, err := s.Get(context.Background(), svixID)
	if err != nil {
		t.Fatalf("Get(%s): %v", svixID, err)
	}
	return ev
}

// userRow reads the user row directly, tombstones included.
func userRow(t *testing.T, db *bun.DB, clerkUserID string) users.User {
	t.Helper()
	var u users.User
	if err := db.NewSelect().Model(&u).Where("clerk_user_id = ?", clerkUserID).Scan(context.Background()); err != nil {
		t.Fatalf("read user %s: %v", clerkUserID, err)
	}
	return u
}

func count(t *testing.T, db *bun.DB, table string) int {
	t.Helper()
	n, err := db.NewSelect().Table(table).Count(context.Background())
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return int(n)
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func TestDeliverUserEvents(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		id        string
		email     *string
		userName  *string
		versionMs int64
	}{
		// The primary address is the second one: position means nothing.
		{"primary email not first", "user_created.json", marguerite, ptr("marguerite@example.com"), ptr("Marguerite Duras"), 1717171200456},
		{"phone only", "user_created_phone_only.json", kwame, nil, ptr("Kwame Mensah"), 1717180000001},
		{"first name only", "user_created_first_name_only.json", "user_2hT1Ch3rUsRk7Bd3Yf5Gm1Pw8Q", ptr("cher@example.com"), ptr("Cher"), 1717200000003},
		{"no names", "user_created_null_names.json", "user_2hS0NoNameUs3rQv6Mj2Hk9Rt4", ptr("no-name@example.net"), nil, 1717190000002},
	}
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				svixID := fmt.Sprintf("msg_%d", i)
				res := deliver(t, s, svixID, fixture(t, tt.file), t0, webhooks.OutcomeApplied)
				want := webhooks.Result{SvixID: svixID, Type: webhooks.TypeUserCreated, ClerkUserID: tt.id, Outcome: webhooks.OutcomeApplied}
				if diff := cmp.Diff(want, res); diff != "" {
					t.Errorf("Result (-want +got):\n%s", diff)
				}
				u := userRow(t, db, tt.id)
				if !cmp.Equal(u.Email, tt.email) || !cmp.Equal(u.Name, tt.userName) || u.Version != tt.versionMs {
					t.Errorf("user = email %s, name %s, version %d; want %s, %s, %d",
						str(u.Email), str(u.Name), u.Version, str(tt.email), str(tt.userName), tt.versionMs)
				}
			})
		}
	})
}

func TestDeliverCreatedThenUpdated(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		type call struct {
			typ     string
			outcome webhooks.Outcome
		}
		var observed []call
		s.Observer = func(typ string, o webhooks.Outcome) { observed = append(observed, call{typ, o}) }

		deliver(t, s, "msg_created", fixture(t, "user_created.json"), t0, webhooks.OutcomeApplied)
		deliver(t, s, "msg_updated", fixture(t, "user_updated.json"), t0.Add(time.Second), webhooks.OutcomeApplied)

		u := userRow(t, db, marguerite)
		if got, want := str(u.Email), "m.duras@example.org"; got != want {
			t.Errorf("email = %s, want %s", got, want)
		}
		if got, want := str(u.Name), "Marguerite Donnadieu"; got != want {
			t.Errorf("name = %s, want %s", got, want)
		}
		if got := count(t, db, "users"); got != 1 {
			t.Errorf("%d user rows, want 1", got)
		}

		ev := get(t, s, "msg_updated")
		want := webhooks.StoredEvent{
			SvixID: "msg_updated", Type: webhooks.TypeUserUpdated, ClerkUserID: ptr(marguerite),
			Outcome: webhooks.OutcomeApplied, Attempts: 1,
			FirstReceivedAt: t0.Add(time.Second), LastReceivedAt: t0.Add(time.Second),
		}
		if ev.LastAppliedAt == nil {
			t.Error("last_applied_at is null after an applied delivery")
		}
		if string(ev.Payload) != string(fixture(t, "user_updated.json")) {
			t.Error("stored payload differs from the body delivered")
		}
		ev.LastAppliedAt, ev.Payload = nil, nil
		if diff := cmp.Diff(want, ev); diff != "" {
			t.Errorf("stored event (-want +got):\n%s", diff)
		}

		wantObserved := []call{{webhooks.TypeUserCreated, webhooks.OutcomeApplied}, {webhooks.TypeUserUpdated, webhooks.OutcomeApplied}}
		if diff := cmp.Diff(wantObserved, observed, cmp.AllowUnexported(call{})); diff != "" {
			t.Errorf("observed (-want +got):\n%s", diff)
		}
	})
}

func TestDeliverDuplicate(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		body := fixture(t, "user_created.json")
		deliver(t, s, "msg_dup", body, t0, webhooks.OutcomeApplied)
		deliver(t, s, "msg_dup", body, t0.Add(time.Minute), webhooks.OutcomeUnchanged)

		if got := count(t, db, "webhook_events"); got != 1 {
			t.Errorf("%d event records, want 1", got)
		}
		if got := count(t, db, "users"); got != 1 {
			t.Errorf("%d user rows, want 1", got)
		}
		ev := get(t, s, "msg_dup")
		if ev.Attempts != 2 || ev.Outcome != webhooks.OutcomeUnchanged {
			t.Errorf("record: attempts %d outcome %s, want 2 unchanged", ev.Attempts, ev.Outcome)
		}
		if !ev.FirstReceivedAt.Equal(t0) || !ev.LastReceivedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("received first %v last %v, want %v and %v", ev.FirstReceivedAt, ev.LastReceivedAt, t0, t0.Add(time.Minute))
		}

		// A retry that commits after a later one keeps the received span.
		deliver(t, s, "msg_dup", body, t0.Add(-time.Minute), webhooks.OutcomeUnchanged)
		ev = get(t, s, "msg_dup")
		if ev.Attempts != 3 || !ev.FirstReceivedAt.Equal(t0.Add(-time.Minute)) || !ev.LastReceivedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("after an early retry: attempts %d, first %v, last %v", ev.Attempts, ev.FirstReceivedAt, ev.LastReceivedAt)
		}
	})
}

func TestDeliverOutOfOrder(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		v1, v2 := t0.UnixMilli(), t0.Add(time.Second).UnixMilli()
		deliver(t, s, "msg_v2", userEvent(webhooks.TypeUserUpdated, "user_o", "new@example.com", "New", v2), t0, webhooks.OutcomeApplied)
		deliver(t, s, "msg_v1", userEvent(webhooks.TypeUserUpdated, "user_o", "old@example.com", "Old", v1), t0.Add(time.Second), webhooks.OutcomeStale)

		u := userRow(t, db, "user_o")
		if str(u.Email) != "new@example.com" || str(u.Name) != "New" || u.Version != v2 {
			t.Errorf("row = %s %s %d, want the newer data", str(u.Email), str(u.Name), u.Version)
		}
		if got := get(t, s, "msg_v1").Outcome; got != webhooks.OutcomeStale {
			t.Errorf("recorded outcome = %s, want stale", got)
		}
	})
}

func TestDeliverDeleteThenLateUpdate(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		deliver(t, s, "msg_c", fixture(t, "user_created.json"), t0, webhooks.OutcomeApplied)
		deliver(t, s, "msg_d", fixture(t, "user_deleted.json"), t0.Add(time.Second), webhooks.OutcomeApplied)

		// Older than the tombstone, then newer: both stale, nothing resurrects.
		deliver(t, s, "msg_u", fixture(t, "user_updated.json"), t0.Add(2*time.Second), webhooks.OutcomeStale)
		later := userEvent(webhooks.TypeUserUpdated, marguerite, "back@example.com", "Back", 1717600000000+60_000)
		deliver(t, s, "msg_late", later, t0.Add(3*time.Second), webhooks.OutcomeStale)
		// A second delete changes nothing.
		deliver(t, s, "msg_d2", deletedEvent(marguerite, 1717600000000+120_000), t0.Add(4*time.Second), webhooks.OutcomeUnchanged)

		u := userRow(t, db, marguerite)
		if !u.Deleted() || u.Email != nil || u.Name != nil {
			t.Errorf("row = deleted %v, email %s, name %s; want a tombstone", u.Deleted(), str(u.Email), str(u.Name))
		}
		if want := time.UnixMilli(1717600000000).UTC(); !u.DeletedAt.Equal(want) {
			t.Errorf("deleted_at = %v, want the envelope timestamp %v", u.DeletedAt, want)
		}
	})
}

// TestRedeliveryAfterUserChanged: Svix redelivers an old message after the
// app's sync wrote newer data; the redelivery and its replay are stale.
func TestRedeliveryAfterUserChanged(t *testing.T) {
	eachWithUsers(t, func(t *testing.T, db *bun.DB, u *users.Service, s *webhooks.Service) {
		ctx := context.Background()

		deliver(t, s, "msg_a", fixture(t, "user_created.json"), t0, webhooks.OutcomeApplied)
		synced := users.Write{
			ClerkUserID: marguerite, Email: ptr("sync@example.com"), Name: ptr("Synced"),
			Version: time.UnixMilli(1717171200456).Add(time.Minute), Writer: users.WriterSync,
		}
		if res, err := u.Upsert(ctx, synced); err != nil || res.Outcome != users.Updated {
			t.Fatalf("sync upsert: %v, %v", res.Outcome, err)
		}

		deliver(t, s, "msg_a", fixture(t, "user_created.json"), t0.Add(time.Minute), webhooks.OutcomeStale)
		if res, err := s.Replay(ctx, "msg_a"); err != nil || res.Outcome != webhooks.OutcomeStale {
			t.Fatalf("Replay: %+v, %v; want stale", res, err)
		}
		if got := userRow(t, db, marguerite); str(got.Email) != "sync@example.com" || str(got.Name) != "Synced" {
			t.Errorf("row = %s %s, want the synced data", str(got.Email), str(got.Name))
		}
		if ev := get(t, s, "msg_a"); ev.Attempts != 2 || ev.Outcome != webhooks.OutcomeStale {
			t.Errorf("record: attempts %d outcome %s, want 2 stale", ev.Attempts, ev.Outcome)
		}
	})
}

func TestDeliverIgnoredType(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		res := deliver(t, s, "msg_s", fixture(t, "session_created.json"), t0, webhooks.OutcomeIgnored)
		want := webhooks.Result{SvixID: "msg_s", Type: "session.created", Outcome: webhooks.OutcomeIgnored}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("Result (-want +got):\n%s", diff)
		}
		ev := get(t, s, "msg_s")
		if ev.Type != "session.created" || ev.ClerkUserID != nil || ev.Outcome != webhooks.OutcomeIgnored || ev.Error != nil {
			t.Errorf("record = %+v", ev)
		}
		if got := count(t, db, "users"); got != 0 {
			t.Errorf("%d user rows, want 0", got)
		}
	})
}

func TestDeliverUndecodable(t *testing.T) {
	tests := []struct {
		name     string
		body     []byte
		wantType string
		wantUser *string
	}{
		{"not JSON", []byte("not json"), "", nil},
		{"no data", []byte(`{"type":"user.created"}`), "user.created", nil},
		{"user event without id", []byte(`{"type":"user.updated","data":{"updated_at":1}}`), "user.updated", nil},
		{"blank user id", []byte(`{"type":"user.created","data":{"id":" ","updated_at":1}}`), "user.created", ptr(" ")},
		{"NUL in a field", []byte(`{"type":"user.created","data":{"id":"user_x","first_name":"a\u0000b","updated_at":1}}`), "user.created", ptr("user_x")},
		{"invalid UTF-8", []byte("{\"type\":\"user.created\",\xff\x00}"), "", nil},
	}
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		ctx := context.Background()
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				svixID := fmt.Sprintf("msg_bad_%d", i)
				res, err := s.Deliver(ctx, svixID, tt.body, t0)
				if !errors.Is(err, webhooks.ErrNotClerkEvent) {
					t.Fatalf("Deliver error = %v, want ErrNotClerkEvent", err)
				}
				want := webhooks.Result{SvixID: svixID, Type: tt.wantType, ClerkUserID: str(tt.wantUser), Outcome: webhooks.OutcomeFailed}
				if tt.wantUser == nil {
					want.ClerkUserID = ""
				}
				if diff := cmp.Diff(want, res); diff != "" {
					t.Errorf("Result (-want +got):\n%s", diff)
				}

				ev := get(t, s, svixID)
				if ev.Outcome != webhooks.OutcomeFailed || ev.Error == nil || *ev.Error != err.Error() {
					t.Errorf("record outcome %s error %s, want failed with %q", ev.Outcome, str(ev.Error), err)
				}
				if ev.Type != tt.wantType || !cmp.Equal(ev.ClerkUserID, tt.wantUser) || ev.LastAppliedAt != nil || ev.Attempts != 1 {
					t.Errorf("record = %+v", ev)
				}
				if !json.Valid(ev.Payload) {
					t.Errorf("payload %q is not JSON", ev.Payload)
				}
			})
		}
		if got := count(t, db, "users"); got != 0 {
			t.Errorf("%d user rows, want 0", got)
		}
		// The payload is kept as received: a JSON body as itself, anything else as a JSON string.
		if got := get(t, s, "msg_bad_1").Payload; string(got) != `{"type":"user.created"}` {
			t.Errorf("payload = %s", got)
		}
		if got := get(t, s, "msg_bad_0").Payload; string(got) != `"not json"` {
			t.Errorf("payload = %s", got)
		}
	})
}

func TestDeliverDatabaseFailure(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		ctx := context.Background()
		rename := func(from, to string) {
			t.Helper()
			if _, err := db.ExecContext(ctx, "ALTER TABLE "+from+" RENAME TO "+to); err != nil {
				t.Fatal(err)
			}
		}
		body := fixture(t, "user_created.json")
		failDeliver := func() {
			t.Helper()
			res, err := s.Deliver(ctx, "msg_db", body, t0)
			if err == nil || errors.Is(err, webhooks.ErrNotClerkEvent) {
				t.Fatalf("Deliver = %+v, %v; want a database error", res, err)
			}
		}

		// The users write fails: no event is recorded.
		rename("users", "users_away")
		failDeliver()
		rename("users_away", "users")
		if got := count(t, db, "webhook_events"); got != 0 {
			t.Errorf("%d event records after a failed users write, want 0", got)
		}

		// The event log write fails after the user write: the user write is rolled back.
		rename("webhook_events", "webhook_events_away")
		failDeliver()
		rename("webhook_events_away", "webhook_events")
		if got := count(t, db, "users"); got != 0 {
			t.Errorf("%d user rows after a failed event record, want 0", got)
		}

		// Svix's retry then succeeds as a first delivery.
		deliver(t, s, "msg_db", body, t0, webhooks.OutcomeApplied)
		if got := get(t, s, "msg_db").Attempts; got != 1 {
			t.Errorf("attempts = %d, want 1", got)
		}

		db.Close()
		failDeliver()
	})
}

func TestList(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		ctx := context.Background()

		// 25 events about a minute apart: every fifth is a session (ignored), the
		// rest user updates. Fractions of a second of varied length check that
		// SQLite's text times sort as times; msg_14 and msg_15 share a time
		// across the first page boundary, so the svix id must break the tie.
		const n = 25
		fractions := []time.Duration{0, 100 * time.Millisecond, 150 * time.Millisecond, time.Microsecond, 999_999 * time.Microsecond}
		receivedAt := func(i int) time.Time {
			if i == 14 {
				i = 15
			}
			return t0.Add(time.Duration(i)*time.Minute + fractions[i%5])
		}
		for i := range n {
			id := fmt.Sprintf("msg_%02d", i)
			at := receivedAt(i)
			if i%5 == 0 {
				deliver(t, s, id, fixture(t, "session_created.json"), at, webhooks.OutcomeIgnored)
				continue
			}
			body := userEvent(webhooks.TypeUserUpdated, fmt.Sprintf("user_%d", i), "a@example.com", "A", t0.UnixMilli())
			deliver(t, s, id, body, at, webhooks.OutcomeApplied)
		}

		t.Run("pages", func(t *testing.T) {
			var got []string
			var sizes []int
			cursor := ""
			for {
				events, next, err := s.List(ctx, webhooks.Filter{Limit: 10, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, len(events))
				for _, ev := range events {
					if ev.Payload != nil {
						t.Errorf("List filled the payload of %s", ev.SvixID)
					}
					got = append(got, ev.SvixID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			var want []string
			for i := n - 1; i >= 0; i-- {
				want = append(want, fmt.Sprintf("msg_%02d", i))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ids over all pages, newest first (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]int{10, 10, 5}, sizes); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
		})

		t.Run("filters", func(t *testing.T) {
			tests := []struct {
				name   string
				filter webhooks.Filter
				want   []int // indexes, newest first
			}{
				{"default limit", webhooks.Filter{}, span(24, 0)},
				{"outcome", webhooks.Filter{Outcome: "ignored"}, []int{20, 15, 10, 5, 0}},
				{"type", webhooks.Filter{Type: "session.created"}, []int{20, 15, 10, 5, 0}},
				{"since inclusive, until exclusive", webhooks.Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(14 * time.Minute)}, []int{13, 12, 11, 10}},
				{"until exclusive at a fraction", webhooks.Filter{Since: t0.Add(10 * time.Minute), Until: receivedAt(12)}, []int{11, 10}},
				{"since inclusive at a fraction", webhooks.Filter{Since: receivedAt(23), Until: receivedAt(24)}, []int{23}},
				{"since within a microsecond", webhooks.Filter{Since: t0.Add(10*time.Minute + time.Nanosecond)}, span(24, 11)},
				{"outcome and since", webhooks.Filter{Outcome: "applied", Since: t0.Add(20 * time.Minute)}, []int{24, 23, 22, 21}},
				{"no match", webhooks.Filter{Type: "user.deleted"}, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					events, next, err := s.List(ctx, tt.filter)
					if err != nil || next != "" {
						t.Fatalf("List: next %q, err %v", next, err)
					}
					var got []int
					for _, ev := range events {
						var i int
						fmt.Sscanf(ev.SvixID, "msg_%d", &i)
						got = append(got, i)
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
				})
			}
		})

		t.Run("paging with a filter", func(t *testing.T) {
			f := webhooks.Filter{Type: webhooks.TypeUserUpdated, Limit: 7}
			seen := map[string]int{}
			for {
				events, next, err := s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, ev := range events {
					seen[ev.SvixID]++
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if len(seen) != 20 {
				t.Errorf("saw %d user events, want 20", len(seen))
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("%s seen %d times", id, k)
				}
			}
		})

		t.Run("invalid", func(t *testing.T) {
			_, next, err := s.List(ctx, webhooks.Filter{Limit: 1})
			if err != nil || next == "" {
				t.Fatalf("first page: %q, %v", next, err)
			}
			for _, f := range []webhooks.Filter{
				{Cursor: "not a cursor"},
				{Cursor: next[:len(next)-2]},
				{Cursor: next + "A"},
				{Outcome: "applied "},
				{Since: t0, Until: t0},
				{Limit: -1},
			} {
				if _, _, err := s.List(ctx, f); !errors.Is(err, errs.Invalid) {
					t.Errorf("List(%+v) error = %v, want ErrInvalid", f, err)
				}
			}
		})

		t.Run("get unknown", func(t *testing.T) {
			if _, err := s.Get(ctx, "msg_nope"); !errors.Is(err, webhooks.ErrNotFound) {
				t.Errorf("Get error = %v, want ErrNotFound", err)
			}
		})
	})
}

// span returns from, from-1, …, to.
func span(from, to int) []int {
	var s []int
	for i := from; i >= to; i-- {
		s = append(s, i)
	}
	return s
}

func TestReplay(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		ctx := context.Background()

		if _, err := s.Replay(ctx, "msg_nope"); !errors.Is(err, webhooks.ErrNotFound) {
			t.Errorf("Replay of an unknown id: %v, want ErrNotFound", err)
		}

		deliver(t, s, "msg_r", fixture(t, "user_created.json"), t0, webhooks.OutcomeApplied)
		before := get(t, s, "msg_r")
		time.Sleep(2 * time.Millisecond) // so that last_applied_at can move

		res, err := s.Replay(ctx, "msg_r")
		if err != nil {
			t.Fatal(err)
		}
		want := webhooks.Result{SvixID: "msg_r", Type: webhooks.TypeUserCreated, ClerkUserID: marguerite, Outcome: webhooks.OutcomeUnchanged}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("Result (-want +got):\n%s", diff)
		}
		after := get(t, s, "msg_r")
		if after.Attempts != before.Attempts || !after.LastReceivedAt.Equal(before.LastReceivedAt) {
			t.Errorf("replay counted as a delivery: attempts %d→%d, last_received_at %v→%v",
				before.Attempts, after.Attempts, before.LastReceivedAt, after.LastReceivedAt)
		}
		if after.Outcome != webhooks.OutcomeUnchanged {
			t.Errorf("outcome = %s, want unchanged", after.Outcome)
		}
		if after.LastAppliedAt == nil || !after.LastAppliedAt.After(*before.LastAppliedAt) {
			t.Errorf("last_applied_at %v → %v, want later", before.LastAppliedAt, after.LastAppliedAt)
		}

		// A failed event fails again, recorded, with the decode error.
		if _, err := s.Deliver(ctx, "msg_bad", []byte(`{"type":"user.created","data":{}}`), t0); !errors.Is(err, webhooks.ErrNotClerkEvent) {
			t.Fatalf("Deliver: %v", err)
		}
		res, err = s.Replay(ctx, "msg_bad")
		if !errors.Is(err, webhooks.ErrNotClerkEvent) || res.Outcome != webhooks.OutcomeFailed {
			t.Errorf("Replay of a failed event: %+v, %v", res, err)
		}
		if ev := get(t, s, "msg_bad"); ev.Attempts != 1 || ev.Error == nil {
			t.Errorf("record = %+v", ev)
		}
	})
}

func TestReplayMatching(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		ctx := context.Background()

		// Delivered in order: created (applied), updated (applied), a bad body (failed),
		// then 110 sessions (ignored) so that the walk takes more than one page.
		deliver(t, s, "msg_a", fixture(t, "user_created.json"), t0, webhooks.OutcomeApplied)
		deliver(t, s, "msg_b", fixture(t, "user_updated.json"), t0.Add(time.Second), webhooks.OutcomeApplied)
		if _, err := s.Deliver(ctx, "msg_c", []byte("{}"), t0.Add(2*time.Second)); !errors.Is(err, webhooks.ErrNotClerkEvent) {
			t.Fatalf("Deliver: %v", err)
		}
		const sessions = 110
		for i := range sessions {
			deliver(t, s, fmt.Sprintf("msg_s%03d", i), fixture(t, "session_created.json"), t0.Add(time.Hour+time.Duration(i)*time.Second), webhooks.OutcomeIgnored)
		}
		before := get(t, s, "msg_a")

		t.Run("dry run", func(t *testing.T) {
			var seen []webhooks.Result
			sum, err := s.ReplayMatching(ctx, webhooks.Filter{Until: t0.Add(time.Hour)}, true, func(r webhooks.Result, err error) {
				if err != nil {
					t.Errorf("dry run reported %v", err)
				}
				seen = append(seen, r)
			})
			if err != nil {
				t.Fatal(err)
			}
			want := webhooks.Summary{Matched: 3, DryRun: true, Outcomes: map[string]int{}}
			if diff := cmp.Diff(want, sum); diff != "" {
				t.Errorf("Summary (-want +got):\n%s", diff)
			}
			wantSeen := []webhooks.Result{
				{SvixID: "msg_a", Type: webhooks.TypeUserCreated, ClerkUserID: marguerite, Outcome: webhooks.OutcomeApplied},
				{SvixID: "msg_b", Type: webhooks.TypeUserUpdated, ClerkUserID: marguerite, Outcome: webhooks.OutcomeApplied},
				{SvixID: "msg_c", Outcome: webhooks.OutcomeFailed},
			}
			if diff := cmp.Diff(wantSeen, seen); diff != "" {
				t.Errorf("each (-want +got):\n%s", diff)
			}
			if after := get(t, s, "msg_a"); !cmp.Equal(after.LastAppliedAt, before.LastAppliedAt) || after.Outcome != before.Outcome {
				t.Errorf("dry run changed the record: %+v → %+v", before, after)
			}
		})

		t.Run("replay all", func(t *testing.T) {
			var order []string
			failures := 0
			sum, err := s.ReplayMatching(ctx, webhooks.Filter{Limit: 1, Cursor: "ignored"}, false, func(r webhooks.Result, err error) {
				order = append(order, r.SvixID)
				if err != nil {
					failures++
					if !errors.Is(err, webhooks.ErrNotClerkEvent) || r.Outcome != webhooks.OutcomeFailed {
						t.Errorf("%s: %s, %v", r.SvixID, r.Outcome, err)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			// Oldest first: the created event is older than the stored update (stale),
			// then the update finds its own data (unchanged).
			want := webhooks.Summary{Matched: 3 + sessions, Outcomes: map[string]int{
				"stale": 1, "unchanged": 1, "failed": 1, "ignored": sessions,
			}}
			if diff := cmp.Diff(want, sum); diff != "" {
				t.Errorf("Summary (-want +got):\n%s", diff)
			}
			if len(order) != 3+sessions || order[0] != "msg_a" || order[1] != "msg_b" || order[2] != "msg_c" || order[len(order)-1] != "msg_s109" {
				t.Errorf("replay order starts %v, ends %v", order[:min(3, len(order))], order[len(order)-1:])
			}
			if failures != 1 {
				t.Errorf("%d failures reported, want 1", failures)
			}
			if u := userRow(t, db, marguerite); str(u.Email) != "m.duras@example.org" {
				t.Errorf("email = %s, want the update's", str(u.Email))
			}
			if ev := get(t, s, "msg_a"); ev.Outcome != webhooks.OutcomeStale || ev.Attempts != 1 {
				t.Errorf("msg_a after replay: %s, attempts %d", ev.Outcome, ev.Attempts)
			}
		})

		t.Run("filtered", func(t *testing.T) {
			sum, err := s.ReplayMatching(ctx, webhooks.Filter{Outcome: "failed"}, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := webhooks.Summary{Matched: 1, Outcomes: map[string]int{"failed": 1}}
			if diff := cmp.Diff(want, sum); diff != "" {
				t.Errorf("Summary (-want +got):\n%s", diff)
			}
			if _, err := s.ReplayMatching(ctx, webhooks.Filter{Outcome: "bogus"}, true, nil); !errors.Is(err, errs.Invalid) {
				t.Errorf("bad outcome: %v, want ErrInvalid", err)
			}
		})
	})
}

// TestConcurrentDeliveriesAndSyncConverge: webhooks (each delivered twice,
// as Svix retries may overlap) and the app's sync write one user from many
// goroutines with shuffled versions; one row ends with the newest data.
func TestConcurrentDeliveriesAndSyncConverge(t *testing.T) {
	eachWithUsers(t, func(t *testing.T, db *bun.DB, u *users.Service, s *webhooks.Service) {
		ctx := context.Background()
		const versions, workers = 40, 16
		last := versions - 1
		version := func(v int) time.Time { return t0.Add(time.Duration(v) * time.Second) }
		// Syncs and webhooks carry different data, and for each user one of
		// them alone has the newest version: a writer that answered without
		// writing would leave the other's data.
		email := func(writer string, v int) string { return fmt.Sprintf("%s-v%d@example.com", writer, v) }
		name := func(writer string, v int) string { return fmt.Sprintf("%s %d", writer, v) }
		newest := map[string]string{"user_race_sync": "sync", "user_race_hook": "hook"}

		var jobs []func() error
		events := 0
		for id, newestWriter := range newest {
			for v := range versions {
				if v < last || newestWriter == "hook" {
					body := userEvent(webhooks.TypeUserUpdated, id, email("hook", v), name("hook", v), version(v).UnixMilli())
					svixID := fmt.Sprintf("msg_%s_%d", id, v)
					deliverJob := func() error {
						_, err := s.Deliver(ctx, svixID, body, t0)
						return err
					}
					jobs = append(jobs, deliverJob, deliverJob)
					events++
				}
				if v < last || newestWriter == "sync" {
					jobs = append(jobs, func() error {
						_, err := u.Upsert(ctx, users.Write{
							ClerkUserID: id, Email: ptr(email("sync", v)), Name: ptr(name("sync", v)), Version: version(v), Writer: users.WriterSync,
						})
						return err
					})
				}
			}
		}
		dbtest.RunShuffled(t, workers, jobs)

		if got := count(t, db, "users"); got != len(newest) {
			t.Fatalf("%d user rows, want %d", got, len(newest))
		}
		for id, writer := range newest {
			row := userRow(t, db, id)
			if str(row.Email) != email(writer, last) || str(row.Name) != name(writer, last) || row.Version != version(last).UnixMilli() {
				t.Errorf("%s = %s, %s, %d; want the %s of version %d", id, str(row.Email), str(row.Name), row.Version, writer, last)
			}
		}
		stored, _, err := s.List(ctx, webhooks.Filter{Limit: webhooks.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != events {
			t.Errorf("%d event records, want %d", len(stored), events)
		}
		for _, ev := range stored {
			if ev.Attempts != 2 {
				t.Errorf("%s: attempts %d, want 2", ev.SvixID, ev.Attempts)
			}
		}
	})
}

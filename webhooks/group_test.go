package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/webhooks"
)

// deliveryCall is one Deliver of a group and what it returned.
type deliveryCall struct {
	svixID string
	body   []byte
	res    webhooks.Result
	err    error
}

// deliverGroup makes calls one group of s's committer (dbtest.Group).
func deliverGroup(t *testing.T, db *bun.DB, s *webhooks.Service, calls ...*deliveryCall) {
	t.Helper()
	fns := make([]func(), len(calls))
	for i, c := range calls {
		fns[i] = func() { c.res, c.err = s.Deliver(context.Background(), c.svixID, c.body, t0) }
	}
	fill := func(i int) {
		body := userEvent("user.created", fmt.Sprint("user_fill_", i), "fill@example.com", "Fill", t0.UnixMilli())
		if _, err := s.Deliver(context.Background(), fmt.Sprint("msg_fill_", i), body, t0); err != nil {
			t.Errorf("fill delivery: %v", err)
		}
	}
	dbtest.Group(t, db, "webhook_events", s.GroupWorkers(), s.GroupLoad, fill, fns...)
}

// TestDeliverGroup: deliveries committed as one group each get their own
// outcome and record: one user's events in version order, a redelivery
// of one message counted as a second attempt, an unusable body recorded
// as failed next to the others, a deletion with the rest.
func TestDeliverGroup(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		v := t0.UnixMilli()
		newer := &deliveryCall{svixID: "msg_newer", body: userEvent("user.updated", "user_a", "a2@example.com", "Newer", v+2000)}
		older := &deliveryCall{svixID: "msg_older", body: userEvent("user.created", "user_a", "a1@example.com", "Older", v+1000)}
		first := &deliveryCall{svixID: "msg_twice", body: userEvent("user.created", "user_b", "b@example.com", "B", v)}
		again := &deliveryCall{svixID: "msg_twice", body: first.body}
		broken := &deliveryCall{svixID: "msg_broken", body: []byte(`{"type": "user.updated", "data": 7}`)}
		gone := &deliveryCall{svixID: "msg_gone", body: deletedEvent("user_c", v)}
		deliverGroup(t, db, s, newer, older, first, again, broken, gone)

		for _, c := range []struct {
			call *deliveryCall
			want webhooks.Outcome
		}{{newer, webhooks.OutcomeApplied}, {older, webhooks.OutcomeApplied}, {first, webhooks.OutcomeApplied},
			{again, webhooks.OutcomeUnchanged}, {gone, webhooks.OutcomeApplied}} {
			if c.call.err != nil || c.call.res.Outcome != c.want {
				t.Errorf("%s = %s, %v; want %s", c.call.svixID, c.call.res.Outcome, c.call.err, c.want)
			}
		}
		if !errors.Is(broken.err, webhooks.ErrNotClerkEvent) || broken.res.Outcome != webhooks.OutcomeFailed {
			t.Errorf("unusable body = %s, %v; want failed, ErrNotClerkEvent", broken.res.Outcome, broken.err)
		}
		if a := userRow(t, db, "user_a"); str(a.Name) != "Newer" || a.Version != v+2000 {
			t.Errorf("user_a = %s v%d, want the newer event's", str(a.Name), a.Version)
		}
		if c := userRow(t, db, "user_c"); c.DeletedAt == nil {
			t.Errorf("user_c not deleted: %+v", c)
		}
		if ev := get(t, s, "msg_twice"); ev.Attempts != 2 || ev.Outcome != webhooks.OutcomeUnchanged {
			t.Errorf("msg_twice record = %d attempts, %s; want 2, unchanged", ev.Attempts, ev.Outcome)
		}
		if ev := get(t, s, "msg_broken"); ev.Outcome != webhooks.OutcomeFailed || ev.Error == nil || ev.LastAppliedAt != nil {
			t.Errorf("msg_broken record = %+v, want failed with its error", ev)
		}
		for _, id := range []string{"msg_newer", "msg_older", "msg_gone"} {
			if ev := get(t, s, id); ev.Outcome != webhooks.OutcomeApplied || ev.Attempts != 1 || ev.LastAppliedAt == nil {
				t.Errorf("%s record = %+v, want applied once", id, ev)
			}
		}
	})
}

// TestDeliverGroupIsolatesAFailingDelivery: a delivery the database
// refuses fails alone (Svix retries it); the others of its group are
// applied and recorded.
func TestDeliverGroupIsolatesAFailingDelivery(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		dbtest.Refuse(t, db, "webhook_events", "svix_id", "msg_bad")
		v := t0.UnixMilli()
		ok1 := &deliveryCall{svixID: "msg_1", body: userEvent("user.created", "user_1", "1@example.com", "One", v)}
		bad := &deliveryCall{svixID: "msg_bad", body: userEvent("user.created", "user_bad", "bad@example.com", "Bad", v)}
		ok2 := &deliveryCall{svixID: "msg_2", body: userEvent("user.created", "user_2", "2@example.com", "Two", v)}
		deliverGroup(t, db, s, ok1, bad, ok2)
		if bad.err == nil || errors.Is(bad.err, webhooks.ErrNotClerkEvent) {
			t.Errorf("refused delivery: %v, want a database error", bad.err)
		}
		for _, c := range []*deliveryCall{ok1, ok2} {
			if c.err != nil || c.res.Outcome != webhooks.OutcomeApplied {
				t.Errorf("%s = %s, %v; want applied", c.svixID, c.res.Outcome, c.err)
			}
			get(t, s, c.svixID)
		}
		if n := count(t, db, "users"); n != 2+s.GroupWorkers() {
			t.Errorf("%d users, want the two of the group and the fill ones (the refused one rolled back)", n)
		}
	})
}

// TestDeliverCancellationNeverLies: under load, with callers giving up at
// random moments, a delivery answered 200 is recorded and one that
// failed is not (Svix retries it).
func TestDeliverCancellationNeverLies(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *webhooks.Service) {
		svixID := func(i int) string { return fmt.Sprintf("msg_%03d", i) }
		dbtest.CancelAtRandom(t, 160, 4*time.Millisecond, func(ctx context.Context, i int) error {
			body := userEvent("user.created", fmt.Sprintf("user_%03d", i), "x@example.com", "X", t0.UnixMilli())
			_, err := s.Deliver(ctx, svixID(i), body, t0)
			return err
		}, func(i int) bool {
			_, err := s.Get(context.Background(), svixID(i))
			return err == nil
		})
	})
}

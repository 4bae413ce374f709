package users_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/users"
)

// outcome is what one Upsert returned.
type outcome struct {
	res users.Result
	err error
}

// upsertGroup makes ws one group of s's committer (dbtest.Group) and
// returns what each call got.
func upsertGroup(t *testing.T, db *bun.DB, s *users.Service, ws ...users.Write) []outcome {
	t.Helper()
	out := make([]outcome, len(ws))
	calls := make([]func(), len(ws))
	for i, w := range ws {
		calls[i] = func() {
			res, err := s.Upsert(context.Background(), w)
			out[i] = outcome{res, err}
		}
	}
	fill := func(i int) {
		if _, err := s.Upsert(context.Background(), write(fmt.Sprintf("user_fill_%d", i), "fill@example.com", "", t0)); err != nil {
			t.Errorf("fill upsert: %v", err)
		}
	}
	dbtest.Group(t, db, "users", s.GroupWorkers(), s.GroupLoad, fill, calls...)
	return out
}

// TestGroupAppliesOneUserInVersionOrder: writes for one user in one group
// are applied in version order whatever their arrival order, each
// reporting the row as its own write left it; writes of one version keep
// their arrival order (the later one wins, as it would alone).
func TestGroupAppliesOneUserInVersionOrder(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		got := upsertGroup(t, db, s,
			write("user_a", "a3@example.com", "A3", t0.Add(3*time.Minute)),
			write("user_a", "a1@example.com", "A1", t0.Add(1*time.Minute)),
			write("user_b", "b1@example.com", "B1", t0),
			write("user_a", "a2@example.com", "A2", t0.Add(2*time.Minute)),
			write("user_c", "c@example.com", "first", t0),
			write("user_c", "c@example.com", "second", t0),
		)
		want := []struct {
			outcome users.Outcome
			name    string
		}{
			{users.Updated, "A3"}, {users.Created, "A1"}, {users.Created, "B1"}, {users.Updated, "A2"},
			{users.Created, "first"}, {users.Updated, "second"},
		}
		for i, w := range want {
			if got[i].err != nil {
				t.Fatalf("write %d: %v", i, got[i].err)
			}
			if got[i].res.Outcome != w.outcome || str(got[i].res.User.Name) != w.name {
				t.Errorf("write %d = %s, name %s; want %s, name %s", i, got[i].res.Outcome, str(got[i].res.User.Name), w.outcome, w.name)
			}
		}
		for id, name := range map[string]string{"user_a": "A3", "user_b": "B1", "user_c": "second"} {
			u, err := s.Get(context.Background(), id)
			if err != nil || str(u.Name) != name {
				t.Errorf("stored %s = %+v, %v; want name %s", id, u, err, name)
			}
		}
		if a, _ := s.Get(context.Background(), "user_a"); a.Version != t0.Add(3*time.Minute).UnixMilli() {
			t.Errorf("user_a version = %d, want the newest", a.Version)
		}
	})
}

// TestGroupStaleAndGone: in a group, a write older than the stored row is
// Stale and a write to a deleted user is Gone, next to writes that apply.
func TestGroupStaleAndGone(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		ctx := context.Background()
		mustUpsert(t, s, write("user_new", "new@example.com", "New", t0.Add(time.Hour)), users.Created)
		mustUpsert(t, s, write("user_del", "del@example.com", "Del", t0), users.Created)
		if _, err := s.Delete(ctx, "user_del", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got := upsertGroup(t, db, s,
			write("user_new", "old@example.com", "Old", t0),
			write("user_del", "back@example.com", "Back", t0.Add(time.Hour)),
			write("user_ok", "ok@example.com", "", t0),
		)
		for i, want := range []users.Outcome{users.Stale, users.Gone, users.Created} {
			if got[i].err != nil || got[i].res.Outcome != want {
				t.Errorf("write %d = %s, %v; want %s", i, got[i].res.Outcome, got[i].err, want)
			}
		}
		if str(got[0].res.User.Name) != "New" {
			t.Errorf("stale write reports %+v, want the stored row", got[0].res.User)
		}
		if u, _ := s.Get(ctx, "user_new"); str(u.Name) != "New" {
			t.Errorf("a stale write changed the row: %+v", u)
		}
		if _, err := s.Get(ctx, "user_del"); err == nil {
			t.Error("a write in a group resurrected a deleted user")
		}
	})
}

// TestGroupIsolatesAFailingWrite: a write the database refuses fails
// alone; the others of its group are applied and reported.
func TestGroupIsolatesAFailingWrite(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		dbtest.Refuse(t, db, "users", "clerk_user_id", "user_bad")
		got := upsertGroup(t, db, s,
			write("user_1", "1@example.com", "One", t0),
			write("user_bad", "bad@example.com", "Bad", t0),
			write("user_2", "2@example.com", "Two", t0),
		)
		if got[1].err == nil {
			t.Errorf("the refused write reported %+v, want an error", got[1].res)
		}
		for _, i := range []int{0, 2} {
			if got[i].err != nil || got[i].res.Outcome != users.Created {
				t.Errorf("write %d = %s, %v; want Created", i, got[i].res.Outcome, got[i].err)
			}
		}
		ctx := context.Background()
		for _, id := range []string{"user_1", "user_2"} {
			if _, err := s.Get(ctx, id); err != nil {
				t.Errorf("%s not stored: %v", id, err)
			}
		}
		if _, err := s.Get(ctx, "user_bad"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("the refused user: %v, want not found", err)
		}
	})
}

// TestGroupCancellation: a caller that gives up while its write waits
// gets its context's error and the write is never applied; a caller whose
// write is already in a committing group gets that outcome.
func TestGroupCancellation(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		ctx := context.Background()
		unlock := dbtest.Lock(t, db, "users")
		taken, cancelTaken := context.WithCancel(ctx)
		var wg sync.WaitGroup
		var inGroup outcome
		wg.Go(func() {
			res, err := s.Upsert(taken, write("user_taken", "t@example.com", "", t0))
			inGroup = outcome{res, err}
		})
		waitLoad(t, s, 0, 1)
		var fillers []outcome // every worker busy, so that the next call waits
		var mu sync.Mutex
		for i := 1; i < s.GroupWorkers(); i++ {
			wg.Go(func() {
				res, err := s.Upsert(ctx, write(fmt.Sprintf("user_fill_%d", i), "f@example.com", "", t0))
				mu.Lock()
				fillers = append(fillers, outcome{res, err})
				mu.Unlock()
			})
			waitLoad(t, s, 0, i+1)
		}
		waiting, cancelWaiting := context.WithCancel(ctx)
		gaveUp := make(chan error, 1)
		go func() {
			_, err := s.Upsert(waiting, write("user_waiting", "w@example.com", "", t0))
			gaveUp <- err
		}()
		waitLoad(t, s, 1, s.GroupWorkers())
		cancelWaiting()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Errorf("waiting caller that gave up: %v, want context.Canceled", err)
		}
		cancelTaken()
		unlock()
		wg.Wait()
		if inGroup.err != nil || inGroup.res.Outcome != users.Created {
			t.Errorf("caller whose write was in a group: %s, %v; want Created, as committed", inGroup.res.Outcome, inGroup.err)
		}
		if _, err := s.Get(ctx, "user_taken"); err != nil {
			t.Errorf("user_taken: %v", err)
		}
		if _, err := s.Get(ctx, "user_waiting"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("the write of a caller that gave up was applied: %v", err)
		}
	})
}

// TestGroupCancellationNeverLies: under load, with callers giving up at
// random moments, a write reported applied is stored and a write reported
// failed is not.
func TestGroupCancellationNeverLies(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		id := func(i int) string { return fmt.Sprintf("user_%03d", i) }
		dbtest.CancelAtRandom(t, 200, 3*time.Millisecond, func(ctx context.Context, i int) error {
			_, err := s.Upsert(ctx, write(id(i), "x@example.com", "", t0))
			return err
		}, func(i int) bool {
			_, err := s.Get(context.Background(), id(i))
			return err == nil
		})
	})
}

func waitLoad(t *testing.T, s *users.Service, waiting, busy int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w, b := s.GroupLoad()
		if w == waiting && b == busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("committer load %d waiting, %d busy; want %d, %d", w, b, waiting, busy)
		}
		time.Sleep(time.Millisecond)
	}
}

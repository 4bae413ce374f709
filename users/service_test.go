package users_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/users"
)

func ptr(s string) *string { return &s }

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func write(id, email, name string, version time.Time) users.Write {
	w := users.Write{ClerkUserID: id, Email: ptr(email), Version: version, Writer: users.WriterSync}
	if name != "" {
		w.Name = ptr(name)
	}
	return w
}

// eachService runs fn in parallel on each database, with a service on it.
func eachService(t *testing.T, fn func(t *testing.T, db *bun.DB, s *users.Service)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		fn(t, db, users.NewService(db))
	})
}

func mustUpsert(t *testing.T, s *users.Service, w users.Write, want users.Outcome) users.User {
	t.Helper()
	res, err := s.Upsert(context.Background(), w)
	if err != nil {
		t.Fatalf("Upsert(%+v): %v", w, err)
	}
	if res.Outcome != want {
		t.Fatalf("Upsert outcome = %s, want %s", res.Outcome, want)
	}
	return res.User
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestUpsertRules(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		ctx := context.Background()

		created := mustUpsert(t, s, write("user_1", "a@example.com", "Ann", t0), users.Created)
		if created.ID == 0 || str(created.Email) != "a@example.com" || str(created.Name) != "Ann" {
			t.Fatalf("created row = %+v", created)
		}
		if !created.CreatedAt.Equal(created.UpdatedAt) {
			t.Errorf("created_at %v != updated_at %v", created.CreatedAt, created.UpdatedAt)
		}

		// The same data again changes nothing visible.
		same := mustUpsert(t, s, write("user_1", "a@example.com", "Ann", t0), users.Unchanged)
		if !same.UpdatedAt.Equal(created.UpdatedAt) || same.ID != created.ID {
			t.Errorf("unchanged write moved the row: %+v -> %+v", created, same)
		}

		// A newer version with the same data advances the version only.
		advanced := mustUpsert(t, s, write("user_1", "a@example.com", "Ann", t0.Add(time.Minute)), users.Unchanged)
		if !advanced.UpdatedAt.Equal(created.UpdatedAt) {
			t.Errorf("updated_at moved without a change")
		}
		if advanced.Version != t0.Add(time.Minute).UnixMilli() {
			t.Errorf("version = %d, want %d", advanced.Version, t0.Add(time.Minute).UnixMilli())
		}

		// An older write is stale: it returns the stored row untouched.
		stale, err := s.Upsert(ctx, write("user_1", "old@example.com", "Old", t0))
		if err != nil || stale.Outcome != users.Stale {
			t.Fatalf("older write: %+v, %v; want stale", stale, err)
		}
		if str(stale.User.Email) != "a@example.com" {
			t.Errorf("stale result email = %s, want the stored one", str(stale.User.Email))
		}

		// A newer change moves updated_at.
		updated := mustUpsert(t, s, write("user_1", "b@example.com", "Ann", t0.Add(2*time.Minute)), users.Updated)
		if !updated.UpdatedAt.After(created.UpdatedAt) || !updated.CreatedAt.Equal(created.CreatedAt) {
			t.Errorf("updated row times: created %v updated %v (was %v)", updated.CreatedAt, updated.UpdatedAt, created.UpdatedAt)
		}

		// KeepName leaves the name, an explicit nil clears it.
		kept := users.Write{ClerkUserID: "user_1", Email: ptr("b@example.com"), KeepName: true, Version: t0.Add(3 * time.Minute)}
		if got := mustUpsert(t, s, kept, users.Unchanged); str(got.Name) != "Ann" {
			t.Errorf("KeepName: name = %s, want Ann", str(got.Name))
		}
		cleared := users.Write{ClerkUserID: "user_1", Email: ptr("b@example.com"), Version: t0.Add(4 * time.Minute)}
		if got := mustUpsert(t, s, cleared, users.Updated); got.Name != nil {
			t.Errorf("nil name: name = %s, want cleared", str(got.Name))
		}

		// Same version, different data: the later write wins (one token, two syncs).
		tie := mustUpsert(t, s, write("user_1", "c@example.com", "", t0.Add(4*time.Minute)), users.Updated)
		if str(tie.Email) != "c@example.com" {
			t.Errorf("same-version write: email = %s", str(tie.Email))
		}
		// And so does a write that keeps the name (a sync body without "name").
		keptTie := users.Write{ClerkUserID: "user_1", Email: ptr("d@example.com"), KeepName: true, Version: t0.Add(4 * time.Minute)}
		if got := mustUpsert(t, s, keptTie, users.Updated); str(got.Email) != "d@example.com" {
			t.Errorf("same-version write keeping the name: email = %s", str(got.Email))
		}

		// A new user with KeepName gets no name.
		fresh := users.Write{ClerkUserID: "user_2", Email: ptr("x@example.com"), KeepName: true, Version: t0}
		if got := mustUpsert(t, s, fresh, users.Created); got.Name != nil {
			t.Errorf("new user with KeepName: name = %s", str(got.Name))
		}

		if _, err := s.Upsert(ctx, users.Write{ClerkUserID: " ", Version: t0}); !errors.Is(err, errs.Invalid) {
			t.Errorf("empty id: err = %v, want ErrInvalid", err)
		}
	})
}

func TestDeleteIsATombstone(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		ctx := context.Background()

		mustUpsert(t, s, write("user_d", "d@example.com", "Dee", t0), users.Created)
		res, err := s.Delete(ctx, "user_d", t0.Add(time.Hour))
		if err != nil || res.Outcome != users.Deleted {
			t.Fatalf("Delete: %+v, %v", res, err)
		}
		if res.User.Email != nil || res.User.Name != nil || !res.User.Deleted() {
			t.Errorf("tombstone keeps data: %+v", res.User)
		}

		// Nothing resurrects it: not an older write, not a much newer one.
		for _, v := range []time.Time{t0, t0.Add(2 * time.Hour), t0.Add(1000 * time.Hour)} {
			res, err := s.Upsert(ctx, write("user_d", "d@example.com", "Dee", v))
			if err != nil || res.Outcome != users.Gone {
				t.Errorf("write at %v after delete: %s, %v; want gone", v, res.Outcome, err)
			}
			if res.User.Email != nil {
				t.Errorf("write after delete returned data: %+v", res.User)
			}
		}

		again, err := s.Delete(ctx, "user_d", t0.Add(3*time.Hour))
		if err != nil || again.Outcome != users.Unchanged {
			t.Errorf("second delete: %s, %v; want unchanged", again.Outcome, err)
		}
		if _, err := s.Get(ctx, "user_d"); !errors.Is(err, errs.UserDeleted) {
			t.Errorf("Get deleted user: %v, want ErrGone", err)
		}
		if _, err := s.Get(ctx, "user_nobody"); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("Get unknown user: %v, want ErrNotFound", err)
		}

		// A delete that arrives before the user was ever seen still wins.
		if res, err := s.Delete(ctx, "user_early", t0); err != nil || res.Outcome != users.Deleted {
			t.Fatalf("delete of unknown user: %+v, %v", res, err)
		}
		if res, err := s.Upsert(ctx, write("user_early", "e@example.com", "", t0.Add(-time.Minute))); err != nil || res.Outcome != users.Gone {
			t.Errorf("create after early delete: %s, %v; want gone", res.Outcome, err)
		}
	})
}

// TestConcurrentWritersConverge: 50 goroutines write the same 5 ids with
// shuffled versions; each id ends as one row holding its newest data.
func TestConcurrentWritersConverge(t *testing.T) {
	eachService(t, func(t *testing.T, db *bun.DB, s *users.Service) {
		ctx := context.Background()
		const ids, versions, workers = 5, 40, 50

		var jobs []func() error
		for i := range ids {
			for v := range versions {
				w := write(fmt.Sprintf("user_c%d", i), fmt.Sprintf("v%d@example.com", v),
					fmt.Sprintf("Name %d", v), t0.Add(time.Duration(v)*time.Second))
				jobs = append(jobs, func() error {
					_, err := s.Upsert(ctx, w)
					return err
				})
			}
		}
		dbtest.RunShuffled(t, workers, jobs)

		var rows []users.User
		if err := db.NewSelect().Model(&rows).Order("clerk_user_id").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(rows) != ids {
			t.Fatalf("got %d rows, want %d", len(rows), ids)
		}
		last := versions - 1
		for _, u := range rows {
			if got, want := str(u.Email), fmt.Sprintf("v%d@example.com", last); got != want {
				t.Errorf("%s email = %s, want %s", u.ClerkUserID, got, want)
			}
			if got, want := u.Version, t0.Add(time.Duration(last)*time.Second).UnixMilli(); got != want {
				t.Errorf("%s version = %d, want %d", u.ClerkUserID, got, want)
			}
		}
	})
}

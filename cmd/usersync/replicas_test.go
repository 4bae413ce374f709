package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
)

// syncNewest tells the users of TestReplicas whose newest write is a sync.
func syncNewest(u int) bool { return u%5 != 0 && u%2 == 1 }

func ptr[T any](v T) *T { return &v }

// TestReplicas: three `usersync serve` processes start together on one
// fresh PostgreSQL database (each migration applied once), and a mixed
// load of syncs and webhooks spread over them keeps the upsert's rules:
// one row per user, the newest data, nothing resurrected.
func TestReplicas(t *testing.T) {
	databaseURL := dbtest.PostgresURL(t)
	bin := usersyncBinary(t)
	key := testkit.NewKey(t, "ins_test")
	env := map[string]string{
		"ADDR": "127.0.0.1:0", "DATABASE_URL": databaseURL, "CLERK_JWT_KEY": key.PublicPEM(t),
		"CLERK_WEBHOOK_SIGNING_SECRET": testWebhookSecret, "RATE_LIMIT_RPS": "0",
	}

	var replicas [3]*process
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() { defer wg.Done(); replicas[i] = startProcess(t, bin, env) }()
	}
	wg.Wait()
	applied := 0
	for _, p := range replicas {
		if p == nil {
			t.FailNow()
		}
		for _, line := range strings.Split(p.logs.String(), "\n") {
			var l struct {
				Msg   string
				Count int
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "migrations applied" {
				applied += l.Count
			}
		}
	}
	ctx := context.Background()
	db := openAsIs(t, databaseURL)
	list, err := migrations.List(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(list) {
		t.Errorf("replicas applied %d migrations in all, want each of %d exactly once", applied, len(list))
	}

	const nUsers, nVersions = 20, 10
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	type call struct {
		req  func(base string) *http.Request
		user int
	}
	var calls []call
	for u := range nUsers {
		id := fmt.Sprintf("user_rep%02d", u)
		for v := 1; v <= nVersions; v++ {
			iat := base.Add(time.Duration(v) * time.Second)
			token := key.TokenAt(t, id, iat)
			body := fmt.Sprintf(`{"clerk_user_id":%q,"email":"sync-v%d@example.com","name":"Sync %d"}`, id, v, v)
			calls = append(calls, call{user: u, req: func(b string) *http.Request {
				req, _ := http.NewRequest(http.MethodPost, b+"/api/auth/sync", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				return req
			}})
			ev := testkit.UserEvent("user.updated", id, fmt.Sprintf("hook-v%d@example.com", v), fmt.Sprintf("Hook %d", v), "",
				iat.Add(500*time.Millisecond))
			svixID := fmt.Sprintf("msg_%s_%d", id, v)
			calls = append(calls, call{user: u, req: func(b string) *http.Request { return signedWebhook(t, b, svixID, ev) }})
		}
		if syncNewest(u) {
			// A sync strictly newer than every webhook of this user: it must
			// be the one that stays (a sync that answered 200 without
			// writing would leave the newest webhook's data).
			iat := base.Add(time.Duration(nVersions+1) * time.Second)
			token := key.TokenAt(t, id, iat)
			body := fmt.Sprintf(`{"clerk_user_id":%q,"email":"sync-newest@example.com","name":"Sync Newest"}`, id)
			calls = append(calls, call{user: u, req: func(b string) *http.Request {
				req, _ := http.NewRequest(http.MethodPost, b+"/api/auth/sync", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				return req
			}})
		}
		if u%5 == 0 {
			ev := testkit.DeletedEvent(id, base.Add(5*time.Second))
			calls = append(calls, call{user: u, req: func(b string) *http.Request { return signedWebhook(t, b, "msg_del_"+id, ev) }})
		}
	}
	rand.Shuffle(len(calls), func(i, j int) { calls[i], calls[j] = calls[j], calls[i] })

	work := make(chan int)
	var mu sync.Mutex
	var failures []string
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				req := calls[i].req(replicas[(i+w)%len(replicas)].base)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				deleted := calls[i].user%5 == 0
				if resp.StatusCode != http.StatusOK && !(deleted && resp.StatusCode == http.StatusGone) {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range calls {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	var rows []users.User
	if err := db.NewSelect().Model(&rows).Order("clerk_user_id").Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rows) != nUsers {
		t.Fatalf("%d user rows, want %d", len(rows), nUsers)
	}
	for i, u := range rows {
		if i%5 == 0 {
			if !u.Deleted() || u.Email != nil || u.Name != nil {
				t.Errorf("%s: deleted user resurrected or kept data: %+v", u.ClerkUserID, u)
			}
			continue
		}
		// The newest write wins, whichever replica took it and in whatever order.
		want := users.User{ClerkUserID: u.ClerkUserID,
			Email:   ptr(fmt.Sprintf("hook-v%d@example.com", nVersions)),
			Name:    ptr(fmt.Sprintf("Hook %d", nVersions)),
			Version: base.Add(time.Duration(nVersions)*time.Second + 500*time.Millisecond).UnixMilli()}
		if syncNewest(i) {
			want.Email, want.Name = ptr("sync-newest@example.com"), ptr("Sync Newest")
			want.Version = base.Add(time.Duration(nVersions+1) * time.Second).UnixMilli()
		}
		got := users.User{ClerkUserID: u.ClerkUserID, Email: u.Email, Name: u.Name, Version: u.Version}
		if u.Deleted() {
			t.Errorf("%s: deleted, want live", u.ClerkUserID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: final row (-want +got):\n%s", u.ClerkUserID, diff)
		}
	}
	for _, p := range replicas {
		p.stop(t)
	}
}

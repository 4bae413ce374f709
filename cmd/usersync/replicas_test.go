package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// usersyncBinary is this test binary, which runs usersync's main when
// USERSYNC_RUN_MAIN=1 (see TestMain).
func usersyncBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// process is a running `usersync serve`.
type process struct {
	cmd  *exec.Cmd
	base string
	logs *testkit.LockedBuffer
}

func startProcess(t *testing.T, bin string, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "USERSYNC_RUN_MAIN=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &testkit.LockedBuffer{}
	addr := make(chan string, 1)
	// A writer, not StderrPipe: Wait then returns only once every line
	// has been copied, so the last lines are in logs when it returns.
	cmd.Stderr = &addrWatcher{logs: logs, addr: addr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatalf("usersync did not start:\n%s", logs)
	}
	return p
}

// addrWatcher keeps a process's log and sends on addr the address of its
// "listening" line, once.
type addrWatcher struct {
	logs    *testkit.LockedBuffer
	addr    chan string
	partial []byte
	sent    bool
}

func (w *addrWatcher) Write(b []byte) (int, error) {
	w.logs.Write(b)
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		if a := listeningAddr(string(w.partial[:i])); a != "" && !w.sent {
			w.addr <- a
			w.sent = true
		}
		w.partial = w.partial[i+1:]
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("usersync exited with %v:\n%s", err, p.logs)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("usersync did not stop")
	}
}

func signedWebhook(t *testing.T, base, svixID string, body []byte) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/webhooks/clerk", bytes.NewReader(body))
	req.Header = testkit.SignedHeaders(t, testWebhookSecret, svixID, time.Now(), body)
	return req
}

func userEventBody(eventType, id, email, name string, version time.Time) []byte {
	if eventType == webhooks.TypeUserDeleted {
		return testkit.DeletedEvent(id, version)
	}
	return testkit.UserEvent(eventType, id, email, name, "", version)
}

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
	db, err := migrations.Open(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
			ev := userEventBody("user.updated", id, fmt.Sprintf("hook-v%d@example.com", v), fmt.Sprintf("Hook %d", v),
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
			ev := userEventBody("user.deleted", id, "", "", base.Add(5*time.Second))
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

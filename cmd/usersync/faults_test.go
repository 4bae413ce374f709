package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/users"
)

// The bounds of the fault tests: no request may take longer than
// requestBound, and each phase (warm-up, outage, recovery) must reach its
// condition within phaseBound.
const (
	requestBound = 5 * time.Second
	phaseBound   = 10 * time.Second
	// outageLength is the shortest time the database stays away: long
	// enough for every pooled connection to meet the fault.
	outageLength = 500 * time.Millisecond
)

// databaseErrorBody is the documented body for any failure of the database.
var databaseErrorBody = map[string]any{"error": "Database error occurred"}

// TestPostgresOutage takes a dedicated PostgreSQL database away under a
// load of syncs (no new connections, every backend terminated) and
// brings it back: syncs answer the documented 500 and /readyz 503 while
// it is away, the service recovers without a restart, and every
// acknowledged sync is in the database.
func TestPostgresOutage(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.PostgresDatabase(t)
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	// The admin connection is to TEST_DATABASE_URL's own database, which
	// the fault leaves alone.
	admin := openAsIs(t, os.Getenv("TEST_DATABASE_URL"))

	serveThroughOutage(t, databaseURL, "pg", func() {
		if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false"); err != nil {
			t.Fatal(err)
		}
		// pg_terminate_backend only signals: wait until every backend of
		// the database has gone (one may have been starting up).
		waitFor(t, "the database's backends to be terminated", func() bool {
			var left int
			err := admin.QueryRowContext(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"+
				" WHERE datname = ? AND pid <> pg_backend_pid()", name).Scan(&left)
			if err != nil {
				t.Fatal(err)
			}
			return left == 0
		})
	}, func() {
		if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSQLiteUnwritable makes the SQLite file and its WAL immutable under a
// load of syncs, then writable again: writes answer the documented 500
// and /readyz 503 meanwhile, the service recovers without a restart, and
// every acknowledged sync is in the database.
func TestSQLiteUnwritable(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Fatal("this test needs chattr (e2fsprogs) and root to make the SQLite file immutable: ", err)
	}
	databaseURL := dbtest.SQLiteURL(t)
	_, path, err := migrations.ParseURL(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	// Not the -shm file: it is mmapped, and a write to an immutable
	// mapping would kill the process with SIGBUS.
	files := []string{path, path + "-wal"}
	chattr := func(flag string) error {
		out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("chattr %s: %v: %s", flag, err, out)
		}
		return nil
	}
	// Registered after t.TempDir's removal, so run before it.
	t.Cleanup(func() {
		for _, f := range files {
			exec.Command("chattr", "-i", f).Run()
		}
	})

	serveThroughOutage(t, databaseURL, "sqlite", func() {
		if err := chattr("+i"); err != nil {
			t.Fatalf("%v (the test must run as root on a file system with the immutable attribute, such as ext4)", err)
		}
	}, func() {
		if err := chattr("-i"); err != nil {
			t.Fatal(err)
		}
	})
}

// serveThroughOutage serves databaseURL through an outage (runOutage's),
// then stops the server and checks that every acknowledged sync is stored.
func serveThroughOutage(t *testing.T, databaseURL, prefix string, takeAway, bringBack func()) {
	t.Helper()
	key := testkit.NewKey(t, "ins_test")
	base, stop, logs := startServer(t, map[string]string{
		"ADDR": "127.0.0.1:0", "DATABASE_URL": databaseURL, "CLERK_JWT_KEY": key.PublicPEM(t), "RATE_LIMIT_RPS": "0",
	})
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
		if t.Failed() {
			t.Logf("server warnings and errors (the last 40):\n%s", problems(logs.String(), 40))
		}
	})

	acked := runOutage(t, base, key, prefix, takeAway, bringBack)

	stopped = true
	if err := stop(); err != nil {
		t.Errorf("serve returned %v after cancel", err)
	}
	wantStored(t, databaseURL, acked)
}

// runOutage runs a load of syncs against base, calls takeAway once some
// have been acknowledged and bringBack once the outage has been seen, and
// checks every answer against the phase it fell in. It returns the
// acknowledged syncs, user id → email.
func runOutage(t *testing.T, base string, key *testkit.Key, prefix string, takeAway, bringBack func()) map[string]string {
	t.Helper()
	load := startSyncLoad(base, key, prefix, 6)
	t.Cleanup(load.stop)

	waitFor(t, "syncs to be acknowledged before the outage", func() bool {
		return load.count(func(r syncResult) bool { return r.status == http.StatusOK }) >= 20
	})
	faultStart := time.Now()
	takeAway()
	down := time.Now()

	// While the database is away: /readyz says so, /healthz does not care,
	// and syncs sent now all fail.
	probes := 0
	waitFor(t, "syncs to fail during the outage", func() bool {
		wantGet(t, base+"/readyz", http.StatusServiceUnavailable, map[string]any{"error": "database is unavailable"})
		wantGet(t, base+"/healthz", http.StatusOK, map[string]any{"status": "ok"})
		probes++
		return probes >= 3 && time.Since(down) >= outageLength &&
			load.count(func(r syncResult) bool { return r.start.After(down) }) >= 20
	})
	upStart := time.Now()
	bringBack()

	// Back without a restart: /readyz first, then every sync sent after it.
	var ready time.Time
	waitFor(t, "/readyz to answer 200 after the outage", func() bool {
		status, _ := get(t, base+"/readyz")
		ready = time.Now()
		return status == http.StatusOK
	})
	waitFor(t, "syncs after the outage", func() bool {
		return load.count(func(r syncResult) bool { return r.start.After(ready) }) >= 50
	})
	load.stop()

	acked := map[string]string{}
	var before, during, after int
	for _, r := range load.all() {
		what := fmt.Sprintf("sync of %s (sent %v after the fault began)", r.user, r.start.Sub(faultStart).Round(time.Millisecond))
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", what, r.err)
			continue
		case r.end.Sub(r.start) > requestBound:
			t.Errorf("%s took %v, over %v", what, r.end.Sub(r.start), requestBound)
		}
		switch r.status {
		case http.StatusOK:
			acked[r.user] = r.email
		case http.StatusInternalServerError:
			if diff := cmp.Diff(databaseErrorBody, r.body); diff != "" {
				t.Errorf("%s: 500 body (-want +got):\n%s", what, diff)
			}
		default:
			t.Errorf("%s = %d %v, want 200 or 500", what, r.status, r.body)
		}
		switch {
		case r.end.Before(faultStart):
			before++
			if r.status != http.StatusOK {
				t.Errorf("%s before the outage = %d %v, want 200", what, r.status, r.body)
			}
		case r.start.After(down) && r.end.Before(upStart):
			during++
			if r.status != http.StatusInternalServerError {
				t.Errorf("%s during the outage = %d, want 500", what, r.status)
			}
		case r.start.After(ready):
			after++
			if r.status != http.StatusOK {
				t.Errorf("%s after /readyz came back = %d %v, want 200", what, r.status, r.body)
			}
		}
	}
	t.Logf("%d syncs answered: %d before the outage, %d during it (down %v), %d after recovery (%v after the database was back); %d acknowledged",
		len(load.all()), before, during, upStart.Sub(down).Round(time.Millisecond), after,
		ready.Sub(upStart).Round(time.Millisecond), len(acked))
	return acked
}

// wantStored checks that every acknowledged sync is in the database.
func wantStored(t *testing.T, databaseURL string, acked map[string]string) {
	t.Helper()
	ctx := context.Background()
	db := openAsIs(t, databaseURL)
	var rows []users.User
	if err := db.NewSelect().Model(&rows).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for _, u := range rows {
		if u.Email != nil {
			stored[u.ClerkUserID] = *u.Email
		}
	}
	missing := 0
	for id, email := range acked {
		if stored[id] != email {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged sync of %s (%s) is not stored (stored email %q)", id, email, stored[id])
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged syncs are missing", missing, len(acked))
	}
}

// syncResult is one answered (or failed) POST /api/auth/sync.
type syncResult struct {
	user, email string
	start, end  time.Time
	status      int
	body        map[string]any
	err         error
}

// syncLoad sends syncs from several workers until stopped, each for a
// user of its own, so that every acknowledged one can be looked up.
type syncLoad struct {
	client   *http.Client
	done     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	results []syncResult
}

func startSyncLoad(base string, key *testkit.Key, prefix string, workers int) *syncLoad {
	l := &syncLoad{
		client: &http.Client{
			Timeout:   2 * requestBound,
			Transport: &http.Transport{MaxIdleConnsPerHost: workers},
		},
		done: make(chan struct{}),
	}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				l.record(l.sync(base, key, fmt.Sprintf("user_%s_%d_%d", prefix, w, i)))
			}
		}()
	}
	return l
}

func (l *syncLoad) sync(base string, key *testkit.Key, id string) syncResult {
	r := syncResult{user: id, email: strings.ReplaceAll(id, "_", "-") + "@example.com"}
	token, err := clerk.SignToken(key.Private, key.KID, testkit.SessionClaimsAt(id, time.Now().Add(-time.Second)))
	if err != nil {
		r.err = err
		return r
	}
	body := fmt.Sprintf(`{"clerk_user_id":%q,"email":%q,"name":"Load"}`, id, r.email)
	req, err := http.NewRequest(http.MethodPost, base+"/api/auth/sync", strings.NewReader(body))
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	r.start = time.Now()
	resp, err := l.client.Do(req)
	if err == nil {
		r.status = resp.StatusCode
		err = json.NewDecoder(resp.Body).Decode(&r.body)
		resp.Body.Close()
	}
	r.end = time.Now()
	r.err = err
	if err == nil && r.status == http.StatusOK && (r.body["clerk_user_id"] != id || r.body["email"] != r.email) {
		r.err = fmt.Errorf("200 with body %v", r.body)
	}
	return r
}

func (l *syncLoad) record(r syncResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, r)
}

func (l *syncLoad) count(match func(syncResult) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.results {
		if match(r) {
			n++
		}
	}
	return n
}

func (l *syncLoad) all() []syncResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]syncResult(nil), l.results...)
}

// stop ends the load and waits for the requests in flight.
func (l *syncLoad) stop() {
	l.stopOnce.Do(func() {
		close(l.done)
		l.wg.Wait()
		l.client.CloseIdleConnections()
	})
}

// waitFor polls cond until it holds, failing the test after phaseBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, phaseBound, what, cond)
}

// get fetches url within requestBound and decodes its JSON body.
func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	client := &http.Client{Timeout: requestBound}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

func wantGet(t *testing.T, url string, wantStatus int, wantBody map[string]any) {
	t.Helper()
	status, body := get(t, url)
	if status != wantStatus || !cmp.Equal(body, wantBody) {
		t.Fatalf("GET %s = %d %v, want %d %v", url, status, body, wantStatus, wantBody)
	}
}

// problems is the last n lines of a JSON log above level INFO.
func problems(logs string, n int) string {
	var lines []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestSIGTERMDrainsInFlightRequests sends SIGTERM to a usersync process
// while syncs are in their handlers, still reading their bodies: the
// listener closes at once, each of them completes with 200, and the
// process exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.SQLiteURL(t)
	key := testkit.NewKey(t, "ins_test")
	p := startProcess(t, usersyncBinary(t), map[string]string{
		"ADDR": "127.0.0.1:0", "DATABASE_URL": databaseURL, "CLERK_JWT_KEY": key.PublicPEM(t), "RATE_LIMIT_RPS": "0",
	})
	addr := strings.TrimPrefix(p.base, "http://")

	// Each request asks for 100 Continue, which the server sends only when
	// the handler first reads the body: once it has arrived, the request
	// is in flight, its handler waiting for the rest of the body.
	type inFlight struct {
		id, email string
		conn      net.Conn
		r         *bufio.Reader
		body      string
	}
	var reqs []*inFlight
	for i := range 4 {
		f := &inFlight{id: fmt.Sprintf("user_term_%d", i), email: fmt.Sprintf("term-%d@example.com", i)}
		f.body = fmt.Sprintf(`{"clerk_user_id":%q,"email":%q,"name":"Term"}`, f.id, f.email)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(phaseBound))
		f.conn, f.r = conn, bufio.NewReader(conn)
		fmt.Fprintf(conn, "POST /api/auth/sync HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
			addr, key.TokenAt(t, f.id, time.Now().Add(-time.Second)), len(f.body))
		resp, err := http.ReadResponse(f.r, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusContinue {
			t.Fatalf("request %d = %d before its body, want 100 Continue", i, resp.StatusCode)
		}
		io.WriteString(conn, f.body[:len(f.body)/2])
		reqs = append(reqs, f)
	}

	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() { exited <- p.cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		// Runs before startProcess's own cleanup, which must not Wait again.
		p.cmd.Process.Kill()
		<-waited
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shutdown to begin", func() bool { return strings.Contains(p.logs.String(), "shutting down") })
	// The listener closes at once: new connections are refused while
	// the requests above are still in their handlers.
	waitFor(t, "new connections to be refused", func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial after SIGTERM: %v, want connection refused", err)
		}
		return true
	})
	select {
	case err := <-exited:
		t.Fatalf("usersync exited (%v) with requests in flight:\n%s", err, p.logs)
	default:
	}

	acked := map[string]string{}
	for _, f := range reqs {
		io.WriteString(f.conn, f.body[len(f.body)/2:])
		resp, err := http.ReadResponse(f.r, &http.Request{Method: http.MethodPost})
		if err != nil {
			t.Errorf("sync of %s after SIGTERM: %v", f.id, err)
			continue
		}
		var got map[string]any
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || got["clerk_user_id"] != f.id || got["email"] != f.email {
			t.Errorf("sync of %s after SIGTERM = %d %v (%v), want 200 with the user", f.id, resp.StatusCode, got, err)
			continue
		}
		acked[f.id] = f.email
	}

	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("usersync exited with %v after SIGTERM, want exit code 0:\n%s", err, p.logs)
		}
	case <-time.After(phaseBound):
		t.Fatalf("usersync did not exit within %v of its last request:\n%s", phaseBound, p.logs)
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", p.logs)
	}
	wantStored(t, databaseURL, acked)
}

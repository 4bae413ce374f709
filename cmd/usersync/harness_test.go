package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/testkit"
)

// The harness of the package's tests: usersync run in this process
// (runUsersync, startServer) or as processes of this very test binary
// (startProcess), what the app sends them (appClient, signedWebhook), and
// the databases they work on (openAsIs).

// TestMain lets tests run this very test binary as the usersync program
// (USERSYNC_RUN_MAIN=1): real processes without a separate go build.
func TestMain(m *testing.M) {
	if os.Getenv("USERSYNC_RUN_MAIN") == "1" {
		os.Args = append([]string{"usersync"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runUsersync runs `usersync args…` in this process in the environment env
// and returns what it printed.
func runUsersync(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, testkit.Env(env), &out, &errOut)
	return out.String(), errOut.String(), err
}

// startServer runs `usersync serve` in the background and returns its
// base URL and a stop function that cancels it and returns run's error.
func startServer(t *testing.T, env map[string]string) (string, func() error, *testkit.LockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testkit.LockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, testkit.Env(env), io.Discard, stderr) }()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, stderr)
		default:
		}
		if addr := listeningAddr(stderr.String()); addr != "" {
			stop := func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(30 * time.Second):
					return fmt.Errorf("serve did not stop")
				}
			}
			return "http://" + addr, stop, stderr
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	t.Fatalf("serve did not start listening:\n%s", stderr)
	return "", nil, nil
}

func listeningAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
			return line.Addr
		}
	}
	return ""
}

// testWebhookSecret is the CLERK_WEBHOOK_SIGNING_SECRET of the servers
// that take webhooks.
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

// signedWebhook is a Clerk delivery of body to base, signed as Svix signs
// it with testWebhookSecret.
func signedWebhook(t *testing.T, base, svixID string, body []byte) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/webhooks/clerk", bytes.NewReader(body))
	req.Header = testkit.SignedHeaders(t, testWebhookSecret, svixID, time.Now(), body)
	return req
}

// appClient does what the app and its trackers do against a usersync
// process: sync, register a device, report points.
type appClient struct {
	t    *testing.T
	base string
}

func (c appClient) do(method, path, token, body string, want int) []byte {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res := testkit.Send(c.t, http.DefaultClient, req)
	if res.Status != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, res.Status, res.Body, want)
	}
	return res.Body
}

// report sends one OsmAnd point recorded at `at`, as Traccar Client does.
func (c appClient) report(deviceToken string, at time.Time) {
	c.t.Helper()
	q := url.Values{"id": {deviceToken}, "lat": {"52.52"}, "lon": {"13.405"}, "timestamp": {strconv.FormatInt(at.Unix(), 10)}}
	c.do(http.MethodGet, "/api/ingest/osmand?"+q.Encode(), "", "", http.StatusOK)
}

// openAsIs opens the database at databaseURL without migrating it: to
// check what usersync wrote, or as an admin connection. It is closed when
// the test ends.
func openAsIs(t *testing.T, databaseURL string) *bun.DB {
	t.Helper()
	db, err := migrations.Open(context.Background(), databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

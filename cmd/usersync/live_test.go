package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

func wantLiveLocation(t *testing.T, st *testkit.SSE, at time.Time, within time.Duration) {
	t.Helper()
	ev := st.NextEvent(t, within)
	var got struct {
		Location struct {
			RecordedAt time.Time `json:"recorded_at"`
		} `json:"location"`
	}
	if ev.Name != "location" || json.Unmarshal([]byte(ev.Data), &got) != nil || !got.Location.RecordedAt.Equal(at) {
		t.Fatalf("event %q %s, want the location at %s", ev.Name, ev.Data, at)
	}
}

// TestLiveStreamAcrossReplicas: two usersync processes on one PostgreSQL
// database. A point reported to one reaches a stream on the other within a
// second, through PostgreSQL; when the other's notification connection is
// killed, its stream resynchronizes (a fresh snapshot) and keeps receiving.
func TestLiveStreamAcrossReplicas(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.PostgresDatabase(t) // a database of its own: the test kills connections
	key := testkit.NewKey(t, "ins_live")
	env := map[string]string{"ADDR": "127.0.0.1:0", "DATABASE_URL": databaseURL, "CLERK_JWT_KEY": key.PublicPEM(t), "RATE_LIMIT_RPS": "0"}
	bin := usersyncBinary(t)
	streaming := startProcess(t, bin, env)
	ingesting := startProcess(t, bin, env)
	waitFor(t, "both replicas listening", func() bool {
		return strings.Contains(streaming.logs.String(), "listening for other replicas") &&
			strings.Contains(ingesting.logs.String(), "listening for other replicas")
	})

	session := key.Token(t, "user_live")
	a := appClient{t: t, base: streaming.base}
	b := appClient{t: t, base: ingesting.base}
	a.do(http.MethodPost, "/api/auth/sync", session, `{"clerk_user_id":"user_live","email":"live@example.com"}`, http.StatusOK)
	var created struct {
		Device      struct{ ID int64 } `json:"device"`
		IngestToken string             `json:"ingest_token"`
	}
	if err := json.Unmarshal(a.do(http.MethodPost, "/api/devices", session, `{"name":"Bella"}`, http.StatusCreated), &created); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	b.report(created.IngestToken, base)

	st, res := testkit.OpenSSE(t, http.DefaultClient, streaming.base+"/api/locations/stream", session)
	if st == nil {
		t.Fatalf("stream: %d %s", res.Status, res.Body)
	}
	wantLiveLocation(t, st, base, 5*time.Second) // the snapshot

	// A point committed by the other process arrives within a second.
	b.report(created.IngestToken, base.Add(time.Minute))
	wantLiveLocation(t, st, base.Add(time.Minute), time.Second)

	// The notification connections die; the stream gets a fresh snapshot
	// once its process listens again, and points flow again.
	admin := openAsIs(t, databaseURL)
	var killed int
	err := admin.QueryRowContext(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ? AND datname = current_database()",
		"usersync-live").Scan(&killed)
	if err != nil || killed != 2 {
		t.Fatalf("terminated %d notification connections (%v), want both replicas'", killed, err)
	}
	wantLiveLocation(t, st, base.Add(time.Minute), 10*time.Second) // the resync's snapshot
	b.report(created.IngestToken, base.Add(2*time.Minute))
	wantLiveLocation(t, st, base.Add(2*time.Minute), time.Second)

	streaming.stop(t)
	ingesting.stop(t)
}

// TestSIGTERMEndsLiveStreams: streams would hold the drain until its
// deadline; on SIGTERM they end at once, and the process exits well within
// the drain timeout.
func TestSIGTERMEndsLiveStreams(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_live")
	p := startProcess(t, usersyncBinary(t), map[string]string{
		"ADDR": "127.0.0.1:0", "DATABASE_URL": dbtest.SQLiteURL(t), "CLERK_JWT_KEY": key.PublicPEM(t), "RATE_LIMIT_RPS": "0",
	})
	session := key.Token(t, "user_live")
	c := appClient{t: t, base: p.base}
	c.do(http.MethodPost, "/api/auth/sync", session, `{"clerk_user_id":"user_live","email":"live@example.com"}`, http.StatusOK)
	var streams []*testkit.SSE
	for range 3 {
		st, res := testkit.OpenSSE(t, http.DefaultClient, p.base+"/api/locations/stream", session)
		if st == nil {
			t.Fatalf("stream: %d %s", res.Status, res.Body)
		}
		streams = append(streams, st)
	}
	began := time.Now()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for _, st := range streams {
		st.WaitEnd(t, 5*time.Second)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("usersync exited with %v:\n%s", err, p.logs)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("exit took %v with open streams, want well under the %v drain timeout", took, 20*time.Second)
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", p.logs)
	}
}

// TestReconcileEndsLiveStreams: a user that `backfill --reconcile`, a
// process of its own, tombstones has their streams on a running replica
// ended through PostgreSQL, as a user.deleted delivered to a replica would.
func TestReconcileEndsLiveStreams(t *testing.T) {
	t.Parallel()
	databaseURL := dbtest.PostgresURL(t)
	key := testkit.NewKey(t, "ins_live_reconcile")
	env := map[string]string{"ADDR": "127.0.0.1:0", "DATABASE_URL": databaseURL, "CLERK_JWT_KEY": key.PublicPEM(t), "RATE_LIMIT_RPS": "0"}
	server := startProcess(t, usersyncBinary(t), env)
	waitFor(t, "the replica listening", func() bool { return strings.Contains(server.logs.String(), "listening for other replicas") })

	f := testkit.StartFakeClerk(t)
	f.SetUsers(bfUsers(3)) // Clerk knows three users; user_gone is not one of them
	session := key.Token(t, "user_gone")
	c := appClient{t: t, base: server.base}
	c.do(http.MethodPost, "/api/auth/sync", session, `{"clerk_user_id":"user_gone","email":"gone@example.com"}`, http.StatusOK)
	st, res := testkit.OpenSSE(t, http.DefaultClient, server.base+"/api/locations/stream", session)
	if st == nil {
		t.Fatalf("stream: %d %s", res.Status, res.Body)
	}

	if _, stderr, err := bfRun(t, f, databaseURL); err != nil {
		t.Fatalf("backfill: %v\n%s", err, stderr)
	}
	if _, stderr, err := bfRun(t, f, databaseURL, "--reconcile"); err != nil {
		t.Fatalf("backfill --reconcile: %v\n%s", err, stderr)
	}
	ev := st.NextEvent(t, 5*time.Second)
	if ev.Name != "reauthenticate" || !strings.Contains(ev.Data, "user_deleted") {
		t.Fatalf("stream event %+v, want reauthenticate for user_deleted", ev)
	}
	server.stop(t)
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

// TestHarnessAgainstServer runs the benchmark's own pieces, small, against
// the real service: its seeding is answered 2xx, its OsmAnd reports and
// batches are acknowledged, its stream client reads every location event
// the server writes (id and received_at included), and its check finds
// each point exactly once on every stream that follows the device. It
// times nothing.
func TestHarnessAgainstServer(t *testing.T) {
	for _, batch := range []int{1, 3} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *bun.DB) {
				clerk, err := bench.NewClerk()
				if err != nil {
					t.Fatal(err)
				}
				srv := testkit.Start(t, db, map[string]string{"CLERK_JWT_KEY": clerk.PublicPEM(), "CLERK_MAX_TOKEN_LIFETIME": bench.MaxTokenLifetime.String()})
				addr := strings.TrimPrefix(srv.URL, "http://")
				ctx := context.Background()

				users, err := seedUsers(ctx, addr, clerk, 3, 2)
				if err != nil {
					t.Fatal(err)
				}
				var specs []streamSpec
				for _, u := range users {
					specs = append(specs, streamSpec{u: u}, streamSpec{u: u, byDevice: true})
				}
				var received atomic.Int64
				streams, err := openStreams(ctx, addr, specs, 4, &received, 30*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer closeStreams(streams)

				plan := sendPlan{rate: 90, duration: 300 * time.Millisecond, batch: batch, maxPoints: 1000}
				sent, err := send(ctx, addr, users, plan)
				if err != nil {
					t.Fatal(err)
				}
				acked, failed, requests, errors := sent.points()
				if errors != 0 || failed != 0 || acked != requests*batch || requests < len(users) {
					t.Fatalf("sent %d requests, %d failed (%s); %d points acknowledged, %d failed", requests, errors, firstErr(sent), acked, failed)
				}
				want := owed(streams, sent)
				for deadline := time.Now().Add(30 * time.Second); received.Load() < int64(want) && time.Now().Before(deadline); {
					time.Sleep(10 * time.Millisecond)
				}
				got := check(streams, sent)
				if got.expected != want || got.received != want || got.missing+got.duplicates+got.outOfOrder+got.unexpected+got.unacked+got.bad+got.endedEarly != 0 {
					t.Errorf("owed %d (check says %d), read %d: missing %d, duplicates %d, out of order %d, unexpected %d, unacked %d, malformed %d, ended %d",
						want, got.expected, got.received, got.missing, got.duplicates, got.outOfOrder, got.unexpected, got.unacked, got.bad, got.endedEarly)
				}
				if n := len(got.commitToReceive); n != want-len(streams) || len(got.sendToReceive) != n {
					t.Errorf("%d latencies, want one per event of a sent point: %d", n, want-len(streams))
				}
				if got.events["location"] != want || len(got.events) != 1 {
					t.Errorf("events by name %v, want only %d location events", got.events, want)
				}
				for _, d := range got.commitToReceive {
					if d < 0 {
						t.Errorf("read before received_at: %v (are received_at and the client's clock parsed alike?)", d)
						break
					}
				}
			})
		})
	}
}

func firstErr(r *sendResult) string {
	for _, d := range r.devices {
		if d.firstErr != "" {
			return d.firstErr
		}
	}
	return "none"
}

// TestCheckCountsEveryFault hands check streams that received what they
// should not have: each fault must land in its own count.
func TestCheckCountsEveryFault(t *testing.T) {
	u := &user{n: 1, deviceID: 10, seedMs: 1000}
	other := &user{n: 2, deviceID: 20, seedMs: 1000}
	pt := func(ms int64) sentPoint { return sentPoint{ms: ms, at: ms*1000 - 3000} } // sent 3 ms before received_at
	sent := &sendResult{devices: []*deviceLog{
		{u: u, acked: []sentPoint{pt(2000), pt(3000), pt(4000), pt(5000)}, failed: []sentPoint{pt(6000)}},
		{u: other, acked: []sentPoint{pt(2000)}},
	}}
	rec := func(device, ms int64) receipt {
		return receipt{device: device, ms: ms, receivedAt: ms, at: ms*1000 + 7000}
	}
	streams := []*stream{
		// Perfect: the snapshot, then every point in order.
		fakeStream(u, rec(10, 1000), rec(10, 2000), rec(10, 3000), rec(10, 4000), rec(10, 5000)),
		// 3000 missing, 2000 twice, 5000 before 4000, 6000 (failed) arrived,
		// 7000 never sent, a point of another user's device.
		fakeStream(u, rec(10, 1000), rec(10, 2000), rec(10, 2000), rec(10, 5000), rec(10, 4000), rec(10, 6000), rec(10, 7000), rec(20, 2000)),
		// The other user's device: no snapshot.
		fakeStream(other, rec(20, 2000)),
	}
	got := check(streams, sent)
	want := tally{expected: 5 + 5 + 2, received: 5 + 8 + 1, missing: 1 + 1, duplicates: 1, outOfOrder: 1, unexpected: 2, unacked: 1}
	if got.expected != want.expected || got.received != want.received || got.missing != want.missing ||
		got.duplicates != want.duplicates || got.outOfOrder != want.outOfOrder || got.unexpected != want.unexpected || got.unacked != want.unacked {
		t.Errorf("check = expected %d, received %d, missing %d, duplicates %d, out of order %d, unexpected %d, unacked %d; want %d, %d, %d, %d, %d, %d, %d",
			got.expected, got.received, got.missing, got.duplicates, got.outOfOrder, got.unexpected, got.unacked,
			want.expected, want.received, want.missing, want.duplicates, want.outOfOrder, want.unexpected, want.unacked)
	}
	// Latencies: one per first receipt of an owed point that is not the
	// snapshot: 4 + 3 (2000, 5000, 4000) + 1; each 7 ms here.
	if len(got.commitToReceive) != 8 || got.commitToReceive[0] != 7*time.Millisecond || got.commitToReceive[7] != 7*time.Millisecond {
		t.Errorf("commit-to-receive = %v, want 8 × 7ms", got.commitToReceive)
	}
	if len(got.sendToReceive) != 8 || got.sendToReceive[0] != 10*time.Millisecond || got.sendToReceive[7] != 10*time.Millisecond {
		t.Errorf("send-to-receive = %v, want 8 × 10ms", got.sendToReceive)
	}
	if n := owed(streams, sent); n != want.expected {
		t.Errorf("owed = %d, want %d", n, want.expected)
	}
}

func fakeStream(u *user, got ...receipt) *stream {
	return &stream{spec: streamSpec{u: u}, got: got, events: map[string]int{"location": len(got)}, done: make(chan struct{})}
}

func TestSpecsKeepTheLoadLayout(t *testing.T) {
	r := &runner{o: options{idle: 10, streams: 2}}
	for i := 1; i <= 3; i++ {
		r.users = append(r.users, &user{n: i, deviceID: int64(i)})
	}
	specs, keep := r.specs()
	kept := map[int][]bool{} // user → byDevice of the kept streams, in order
	opened := map[int]int{}
	for i, sp := range specs {
		opened[sp.u.n]++
		if keep[i] {
			kept[sp.u.n] = append(kept[sp.u.n], sp.byDevice)
		}
	}
	if len(specs) != 10 || opened[1] != 4 || opened[2] != 3 || opened[3] != 3 {
		t.Errorf("%d idle streams, by user %v; want 10: 4, 3, 3", len(specs), opened)
	}
	for n := 1; n <= 3; n++ {
		if got := kept[n]; len(got) != 2 || got[0] || !got[1] {
			t.Errorf("user %d keeps %v (byDevice), want one stream of all devices and one by device_id", n, got)
		}
	}
	if q, _ := url.ParseQuery(strings.TrimPrefix(streamSpec{u: r.users[1], byDevice: true}.path(), "/api/locations/stream?")); q.Get("device_id") != "2" {
		t.Errorf("path by device = %q", streamSpec{u: r.users[1], byDevice: true}.path())
	}
}

func TestOptionsAreBounded(t *testing.T) {
	if o, err := parseOptions(nil, io.Discard); err != nil || o.users != 500 || o.streams != 4 || o.idle != 5000 || o.rate != 1000 || o.batch != 1 {
		t.Errorf("defaults = %+v, %v; want 500 users × 4 streams, 5,000 idle, 1,000 points/s, single reports", o, err)
	}
	for _, args := range [][]string{
		{"-idle", "1999"}, // fewer idle streams than the load's
		{"-idle", "20000"},
		{"-duration", "6m"},
		{"-rate", "0"},
		{"-batch", "0"},
		{"-users", "0"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) accepted", args)
		}
	}
}

func TestParseLocation(t *testing.T) {
	data := `{"device_id":42,"location":{"recorded_at":"2026-12-06T08:00:00.250Z","received_at":"2026-12-06T08:00:01.000Z","lat":1,"lon":2}}`
	r, err := parseLocation(bench.StreamEvent{ID: "42:1796544000250", Name: "location", Data: []byte(data)})
	if err != nil || r.device != 42 || r.ms != 1796544000250 || r.receivedAt != 1796544001000 {
		t.Errorf("parseLocation = %+v, %v", r, err)
	}
	for name, ev := range map[string]bench.StreamEvent{
		"id of another time":   {ID: "42:1796544000251", Data: []byte(data)},
		"id of another device": {ID: "43:1796544000250", Data: []byte(data)},
		"no received_at":       {ID: "42:1796544000250", Data: []byte(`{"device_id":42,"location":{"recorded_at":"2026-12-06T08:00:00.250Z"}}`)},
		"no location":          {ID: "42:1796544000250", Data: []byte(`{"device_id":42}`)},
		"not JSON":             {ID: "42:1796544000250", Data: []byte(`{"device_id":42,`)},
	} {
		if _, err := parseLocation(ev); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestCheckAnswer(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		points int
		ok     bool
	}{
		{200, "", 1, true},
		{503, `{"error":"busy"}`, 1, false},
		{200, `{"received":3,"stored":3,"duplicates":0,"rejected":[]}`, 3, true},
		{200, `{"received":3,"stored":2,"duplicates":1,"rejected":[]}`, 3, false},
		{201, `{"received":3,"stored":3}`, 3, false},
		{200, `not json`, 3, false},
	} {
		if err := checkAnswer(tt.status, []byte(tt.body), tt.points); (err == nil) != tt.ok {
			t.Errorf("checkAnswer(%d, %s, %d) = %v, want ok %v", tt.status, tt.body, tt.points, err, tt.ok)
		}
	}
}

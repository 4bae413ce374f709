package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/testkit"
)

// wait bounds every wait for an event in these tests: generous, since the
// point is that the event comes, not how fast (bench/ measures that).
const wait = 5 * time.Second

// liveLocation is the data of a location event.
type liveLocation struct {
	DeviceID int64 `json:"device_id"`
	Location struct {
		RecordedAt time.Time `json:"recorded_at"`
		ReceivedAt time.Time `json:"received_at"`
		Lat        float64   `json:"lat"`
		Lon        float64   `json:"lon"`
		Alarm      *string   `json:"alarm"`
	} `json:"location"`
}

// openStream opens the live stream with query (e.g. "device_id=3"),
// failing the test unless it answers 200.
func (s *trackingServer) openStream(t *testing.T, query, session string) *testkit.SSE {
	t.Helper()
	st, res := testkit.OpenSSE(t, s.Client(), s.URL+"/api/locations/stream?"+query, session)
	if st == nil {
		t.Fatalf("stream: %d %s", res.Status, res.Body)
	}
	return st
}

// wantLocation reads the next event, which must be a location event of
// device at recorded.
func wantLocation(t *testing.T, st *testkit.SSE, device int64, recorded time.Time) liveLocation {
	t.Helper()
	ev := st.NextEvent(t, wait)
	var got liveLocation
	if ev.Name != "location" || json.Unmarshal([]byte(ev.Data), &got) != nil {
		t.Fatalf("event %q %s, want a location of device %d at %s", ev.Name, ev.Data, device, recorded)
	}
	if got.DeviceID != device || !got.Location.RecordedAt.Equal(recorded) {
		t.Fatalf("location of device %d at %s, want device %d at %s", got.DeviceID, got.Location.RecordedAt, device, recorded)
	}
	if want := fmt.Sprintf("%d:%d", device, recorded.UnixMilli()); ev.ID != want {
		t.Errorf("id = %q, want %q", ev.ID, want)
	}
	if got.Location.ReceivedAt.IsZero() {
		t.Errorf("location event without received_at: %s", ev.Data)
	}
	return got
}

// wantEvent reads the next event, which must be name, and decodes it.
func wantEvent(t *testing.T, st *testkit.SSE, name string, v any) {
	t.Helper()
	ev := st.NextEvent(t, wait)
	if ev.Name != name {
		t.Fatalf("event %q %s, want %q", ev.Name, ev.Data, name)
	}
	if err := json.Unmarshal([]byte(ev.Data), v); err != nil {
		t.Fatalf("event %q data %q: %v", name, ev.Data, err)
	}
}

// TestLiveStream follows all of a user's devices: the snapshot, a push for
// each ingest path, a late older fix not pushed, devices created, renamed,
// a history deletion and a device deletion, and heartbeats.
func TestLiveStream(t *testing.T) {
	t.Parallel()
	eachTrackingServerEnv(t, []string{"STREAM_HEARTBEAT", "100ms"}, func(t *testing.T, srv *trackingServer) {
		ann := srv.user(t, "user_ann")
		a, aToken := srv.createDevice(t, ann, "Bella")
		b, bToken := srv.createDevice(t, ann, "Rex")
		base := time.Now().Add(-time.Hour).Truncate(time.Second) // OsmAnd and OwnTracks send seconds
		at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
		srv.ingest(t, aToken, point(at(0), 0)) // A has a fix, B none

		st := srv.openStream(t, "", ann)
		for name, want := range map[string]string{
			"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
		} {
			if got := st.Response.Header.Get(name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		// The snapshot: where A is now; B has no fix.
		wantLocation(t, st, a.ID, at(0))

		// The change that brought that fix, arriving after the snapshot (a
		// notification from another replica can): nothing new, not sent.
		owner, err := srv.users.Get(context.Background(), "user_ann")
		if err != nil {
			t.Fatal(err)
		}
		srv.App.Hub.Deliver([]live.Change{{Kind: live.Location, UserID: owner.ID, DeviceID: a.ID, To: at(0).UnixMilli()}})

		// A batch: every point that becomes the newest, in recorded_at order.
		srv.ingest(t, aToken, point(at(2), 2), point(at(1), 1))
		wantLocation(t, st, a.ID, at(1))
		wantLocation(t, st, a.ID, at(2))

		// A late, older fix does not move the marker: nothing is pushed for
		// it, so the next event is the OsmAnd report of B.
		srv.ingest(t, aToken, point(at(-5), 5))
		q := url.Values{"id": {bToken}, "lat": {"52.53"}, "lon": {"13.41"}, "timestamp": {strconv.FormatInt(at(3).Unix(), 10)}}
		srv.do(t, http.MethodGet, "/api/ingest/osmand?"+q.Encode(), "", "").want(t, http.StatusOK)
		wantLocation(t, st, b.ID, at(3))

		// OwnTracks, with an alarm-free location and the token as Basic password.
		body := fmt.Sprintf(`{"_type":"location","lat":52.54,"lon":13.42,"tst":%d}`, at(4).Unix())
		srv.do(t, http.MethodPost, "/api/ingest/owntracks", "", body,
			"Authorization", basicAuth("phone", aToken)).want(t, http.StatusOK)
		wantLocation(t, st, a.ID, at(4))

		// A device registered after the stream opened joins it.
		c, cToken := srv.createDevice(t, ann, "Tom")
		var dev device
		wantEvent(t, st, "device", &dev)
		if dev.ID != c.ID || dev.Name != "Tom" {
			t.Errorf("device event = %+v, want device %d Tom", dev, c.ID)
		}
		srv.ingest(t, cToken, point(at(5), 1))
		wantLocation(t, st, c.ID, at(5))

		// Renamed.
		srv.do(t, http.MethodPatch, fmt.Sprintf("/api/devices/%d", c.ID), ann, `{"name":"Tomcat"}`).want(t, http.StatusOK)
		wantEvent(t, st, "device", &dev)
		if dev.ID != c.ID || dev.Name != "Tomcat" {
			t.Errorf("device event after rename = %+v", dev)
		}

		// A's newest fix deleted: the device, with its new last location.
		del := url.Values{"from": {rfc3339(at(3))}, "to": {rfc3339(at(6))}}
		srv.do(t, http.MethodDelete, fmt.Sprintf("/api/locations/%d?%s", a.ID, del.Encode()), ann, "").want(t, http.StatusOK)
		var moved struct {
			ID           int64 `json:"id"`
			LastLocation struct {
				RecordedAt time.Time `json:"recorded_at"`
			} `json:"last_location"`
		}
		wantEvent(t, st, "device", &moved)
		if moved.ID != a.ID || !moved.LastLocation.RecordedAt.Equal(at(2)) {
			t.Errorf("after deleting A's newest: %+v, want device %d at %s", moved, a.ID, at(2))
		}
		// A point in the deleted span is A's newest fix again, and is sent.
		srv.ingest(t, aToken, point(at(3), 3))
		wantLocation(t, st, a.ID, at(3))

		// Deleted.
		srv.do(t, http.MethodDelete, fmt.Sprintf("/api/devices/%d", c.ID), ann, "").want(t, http.StatusNoContent)
		var gone struct {
			DeviceID int64 `json:"device_id"`
		}
		wantEvent(t, st, "device_deleted", &gone)
		if gone.DeviceID != c.ID {
			t.Errorf("device_deleted %d, want %d", gone.DeviceID, c.ID)
		}

		// Heartbeats keep an idle stream alive.
		if ev := st.Next(t, wait); ev.Comment == "" {
			t.Errorf("idle stream sent %q %s, want a heartbeat comment", ev.Name, ev.Data)
		}

		// Another user's writes never reach it.
		bob := srv.user(t, "user_bob")
		_, bobToken := srv.createDevice(t, bob, "Bob's")
		srv.ingest(t, bobToken, point(at(7), 1))
		st.Quiet(t, 300*time.Millisecond)

		metrics := srv.do(t, http.MethodGet, "/metrics", "", "").want(t, http.StatusOK)
		for _, want := range []string{"live_streams_open 1", `live_stream_events_total{type="location"} 7`,
			`live_stream_events_total{type="device_deleted"} 1`, "live_commit_to_send_seconds_count 10"} {
			if !strings.Contains(string(metrics.body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestLiveStreamFilter: with device_id, only those devices.
func TestLiveStreamFilter(t *testing.T) {
	t.Parallel()
	eachTrackingServer(t, func(t *testing.T, srv *trackingServer) {
		ann := srv.user(t, "user_ann")
		a, aToken := srv.createDevice(t, ann, "Bella")
		_, bToken := srv.createDevice(t, ann, "Rex")
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)

		st := srv.openStream(t, fmt.Sprintf("device_id=%d", a.ID), ann) // A has no fix: no snapshot
		srv.ingest(t, bToken, point(base, 1))
		srv.createDevice(t, ann, "Tom")
		srv.ingest(t, aToken, point(base.Add(time.Minute), 1))
		wantLocation(t, st, a.ID, base.Add(time.Minute)) // nothing of B or Tom before it
		st.Quiet(t, 200*time.Millisecond)
	})
}

// TestLiveStreamRefusals: every check answers before the stream starts.
func TestLiveStreamRefusals(t *testing.T) {
	t.Parallel()
	eachTrackingServerEnv(t, []string{"STREAM_MAX_PER_USER", "2", "STREAM_MAX", "3"}, func(t *testing.T, srv *trackingServer) {
		ann, bob := srv.user(t, "user_ann"), srv.user(t, "user_bob")
		a, _ := srv.createDevice(t, ann, "Bella")
		bobs, _ := srv.createDevice(t, bob, "Bob's")
		open := func(query, token string) testkit.Response {
			t.Helper()
			st, res := testkit.OpenSSE(t, srv.Client(), srv.URL+"/api/locations/stream?"+query, token)
			if st != nil {
				t.Cleanup(st.Close)
			}
			return res
		}

		notFound := srv.do(t, http.MethodGet, "/api/devices/999999", ann, "").want(t, http.StatusNotFound)
		for _, query := range []string{
			fmt.Sprintf("device_id=%d", bobs.ID),                    // another user's
			"device_id=999999",                                      // none
			fmt.Sprintf("device_id=%d&device_id=%d", a.ID, bobs.ID), // one of them is not hers
			"device_id=0" + strconv.FormatInt(a.ID, 10),             // not canonical
			"device_id=abc",
		} {
			res := open(query, ann)
			if res.Status != http.StatusNotFound || string(res.Body) != string(notFound.body) {
				t.Errorf("%s: %d %s, want the usual 404 %s", query, res.Status, res.Body, notFound.body)
			}
		}
		if res := open("", ""); res.Status != http.StatusUnauthorized {
			t.Errorf("no token: %d, want 401", res.Status)
		}
		unsynced := srv.key.Sign(t, testkit.SessionClaims("user_unsynced"))
		if res := open("", unsynced); res.Status != http.StatusConflict {
			t.Errorf("a user without a row: %d %s, want 409", res.Status, res.Body)
		}

		// Two per user, three in all.
		for range 2 {
			if res := open("", ann); res.Status != http.StatusOK {
				t.Fatalf("stream of ann: %d %s", res.Status, res.Body)
			}
		}
		if res := open("", ann); res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Errorf("ann's third stream: %d %s (Retry-After %q), want 429 with Retry-After", res.Status, res.Body, res.Header.Get("Retry-After"))
		}
		if res := open("", bob); res.Status != http.StatusOK {
			t.Fatalf("bob's first stream, the third in all: %d %s", res.Status, res.Body)
		}
		if res := open("", bob); res.Status != http.StatusServiceUnavailable {
			t.Errorf("a fourth stream in all: %d %s, want 503", res.Status, res.Body)
		}

		if _, err := srv.users.Delete(context.Background(), "user_bob", time.Now()); err != nil {
			t.Fatal(err)
		}
		if res := open("", bob); res.Status != http.StatusGone {
			t.Errorf("a deleted user: %d %s, want 410", res.Status, res.Body)
		}
	})
}

// TestLiveStreamEnds: at the token's expiry (plus the leeway), and when the
// user is deleted, with a final reauthenticate event.
func TestLiveStreamEnds(t *testing.T) {
	t.Parallel()
	eachTrackingServer(t, func(t *testing.T, srv *trackingServer) {
		srv.user(t, "user_ann")
		// Expired 2 s ago: still valid within the 5 s leeway for 3 s more,
		// room enough for opening the stream on a loaded machine (with 1 s
		// of room it once came back 401), and the end comes within wait.
		expiring := srv.key.Sign(t, testkit.SessionClaims("user_ann").With("exp", time.Now().Add(-2*time.Second)))
		st := srv.openStream(t, "", expiring)
		var end struct{ Reason string }
		wantEvent(t, st, "reauthenticate", &end)
		if end.Reason != "token_expired" {
			t.Errorf("reason %q, want token_expired", end.Reason)
		}
		st.WaitEnd(t, wait)

		ann := srv.user(t, "user_ann")
		st = srv.openStream(t, "", ann)
		if _, err := srv.users.Delete(context.Background(), "user_ann", time.Now()); err != nil {
			t.Fatal(err)
		}
		wantEvent(t, st, "reauthenticate", &end)
		if end.Reason != "user_deleted" {
			t.Errorf("reason %q, want user_deleted", end.Reason)
		}
		st.WaitEnd(t, wait)
	})
}

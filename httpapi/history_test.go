package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestDeleteLocationsHTTP: DELETE /api/locations/{deviceId}?from=&to=
// answers how many points went; latest follows when the newest goes; the
// checks come in the documented order.
func TestDeleteLocationsHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, bob := s.user(t, "user_ann"), s.user(t, "user_bob")
		d, token := s.createDevice(t, ann, "Bella")
		bobs, _ := s.createDevice(t, bob, "Bob's")
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		s.ingest(t, token, point(base, 0), point(base.Add(time.Minute), 1), point(base.Add(2*time.Minute), 2))
		path := func(id any, from, to time.Time) string {
			return fmt.Sprintf("/api/locations/%v?%s", id, url.Values{"from": {rfc3339(from)}, "to": {rfc3339(to)}}.Encode())
		}
		latest := func() (etag string, recordedAt *time.Time) {
			t.Helper()
			var body struct {
				Location *struct {
					RecordedAt time.Time `json:"recorded_at"`
				} `json:"location"`
			}
			res := s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/latest", d.ID), ann, "").want(t, http.StatusOK)
			res.json(t, &body)
			if body.Location != nil {
				recordedAt = &body.Location.RecordedAt
			}
			return res.header.Get("ETag"), recordedAt
		}

		etag, _ := latest()
		res := s.do(t, http.MethodDelete, path(d.ID, base, base.Add(time.Minute)), ann, "").want(t, http.StatusOK)
		if got := string(res.body); got != `{"deleted":1}`+"\n" && got != `{"deleted":1}` {
			t.Errorf("body %q, want {\"deleted\":1}", got)
		}
		if again, at := latest(); again != etag || at == nil || !at.Equal(base.Add(2*time.Minute)) {
			t.Errorf("latest after deleting an old point: %s %v, want the unchanged %s", again, at, etag)
		}
		// The newest goes: latest is the point before it, with a new ETag.
		s.do(t, http.MethodDelete, path(d.ID, base.Add(2*time.Minute), base.Add(time.Hour)), ann, "").want(t, http.StatusOK)
		if again, at := latest(); again == etag || at == nil || !at.Equal(base.Add(time.Minute)) {
			t.Errorf("latest after deleting the newest: %s %v, want point 1 under a new ETag", again, at)
		}
		s.do(t, http.MethodDelete, path(d.ID, base.Add(-time.Hour), base.Add(time.Hour)), ann, "").want(t, http.StatusOK)
		if _, at := latest(); at != nil {
			t.Errorf("latest after deleting everything: %v, want null", at)
		}

		// 400 naming the parameter, before the device is looked at.
		now := time.Now().UTC()
		for _, tc := range []struct{ query, param string }{
			{"", "from"},
			{"to=" + rfc3339(now), "from"},
			{"from=" + rfc3339(now), "to"},
			{"from=&to=" + rfc3339(now), "from"},
			{"from=yesterday&to=" + rfc3339(now), "from"},
			{"from=" + rfc3339(now) + "&to=1795812835", "to"},
			{"from=" + rfc3339(now) + "&to=" + rfc3339(now), "from"},
			{"from=" + rfc3339(now) + "&to=" + rfc3339(now.Add(-time.Hour)), "from"},
		} {
			for _, id := range []any{d.ID, bobs.ID} {
				res := s.do(t, http.MethodDelete, fmt.Sprintf("/api/locations/%v?%s", id, tc.query), ann, "")
				if res.status != http.StatusBadRequest || !strings.HasPrefix(string(res.body), `{"error":"`+tc.param+`: `) {
					t.Errorf("device %v ?%s = %d %s, want 400 naming %s", id, tc.query, res.status, res.body, tc.param)
				}
			}
		}

		// Not yours, absent and malformed: the same 404 bytes; Bob's points stay.
		want := s.do(t, http.MethodDelete, path(999999, base, now), ann, "").want(t, http.StatusNotFound)
		for _, id := range []any{bobs.ID, "abc", "0" + fmt.Sprint(d.ID)} {
			res := s.do(t, http.MethodDelete, path(id, base, now), ann, "")
			if res.status != http.StatusNotFound || string(res.body) != string(want.body) {
				t.Errorf("device %v: %d %s, want the 404 of an absent device", id, res.status, res.body)
			}
		}
		s.do(t, http.MethodDelete, path(d.ID, base, now), "", "").want(t, http.StatusUnauthorized)

		// A deleted user: 410.
		if _, err := s.users.Delete(context.Background(), "user_ann", time.Now()); err != nil {
			t.Fatal(err)
		}
		s.do(t, http.MethodDelete, path(d.ID, base, now), ann, "").want(t, http.StatusGone)
	})
}

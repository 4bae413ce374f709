package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// routePage is the JSON answer of the route route.
type routePage struct {
	DeviceID int64     `json:"device_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Points   []struct {
		RecordedAt time.Time `json:"recorded_at"`
		Lat        float64   `json:"lat"`
		Lon        float64   `json:"lon"`
	} `json:"points"`
	Count      int     `json:"count"`
	RawCount   int     `json:"raw_count"`
	Simplified bool    `json:"simplified"`
	NextCursor *string `json:"next_cursor"`
}

// TestRoutePagingHTTP: 2,500 points paged with limit=1000 come back each
// exactly once, in order, in three pages, following next_cursor alone.
func TestRoutePagingHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		base := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Second)

		const n = 2500
		var batch []string
		for i := range n {
			batch = append(batch, point(base.Add(time.Duration(i)*time.Second+250*time.Millisecond), i))
			if len(batch) == 1000 || i == n-1 {
				if res := s.ingest(t, token, batch...); res.Stored != len(batch) {
					t.Fatalf("ingest = %+v, want all %d stored", res, len(batch))
				}
				batch = nil
			}
		}

		from, to := base, base.Add(n*time.Second)
		path := fmt.Sprintf("/api/locations/%d/route?limit=1000&from=%s&to=%s", d.ID, rfc3339(from), rfc3339(to))
		var (
			got   []time.Time
			pages int
			next  = path
		)
		for next != "" {
			var page routePage
			res := s.do(t, http.MethodGet, next, ann, "").want(t, http.StatusOK)
			res.json(t, &page)
			pages++
			if page.DeviceID != d.ID || !page.From.Equal(from) || !page.To.Equal(to) || page.Count != len(page.Points) || page.RawCount != page.Count || page.Simplified {
				t.Fatalf("page %d head = %+v", pages, page)
			}
			for _, p := range page.Points {
				got = append(got, p.RecordedAt)
			}
			next = ""
			if page.NextCursor != nil {
				// Following the cursor alone: the range comes from it.
				next = fmt.Sprintf("/api/locations/%d/route?limit=1000&cursor=%s", d.ID, url.QueryEscape(*page.NextCursor))
			}
			if pages > 4 {
				t.Fatal("paging does not end")
			}
		}
		if pages != 3 || len(got) != n {
			t.Fatalf("%d points in %d pages, want %d in 3", len(got), pages, n)
		}
		for i, at := range got {
			if want := base.Add(time.Duration(i)*time.Second + 250*time.Millisecond); !at.Equal(want) {
				t.Fatalf("point %d at %v, want %v", i, at, want)
			}
		}
	})
}

func TestRouteCursorMisuse(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		a, tokenA := s.createDevice(t, ann, "A")
		b, _ := s.createDevice(t, ann, "B")
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		s.ingest(t, tokenA, point(base, 0), point(base.Add(time.Second), 1), point(base.Add(2*time.Second), 2))

		from, to := rfc3339(base.Add(-time.Minute)), rfc3339(base.Add(time.Minute))
		var page routePage
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?limit=1&from=%s&to=%s", a.ID, from, to), ann, "").
			want(t, http.StatusOK).json(t, &page)
		if page.NextCursor == nil {
			t.Fatal("no next_cursor")
		}
		cursor := url.QueryEscape(*page.NextCursor)

		for _, tc := range []struct{ name, path string }{
			{"another device", fmt.Sprintf("/api/locations/%d/route?cursor=%s", b.ID, cursor)},
			{"another from", fmt.Sprintf("/api/locations/%d/route?cursor=%s&from=%s", a.ID, cursor, rfc3339(base.Add(-2*time.Minute)))},
			{"another to", fmt.Sprintf("/api/locations/%d/route?cursor=%s&from=%s&to=%s", a.ID, cursor, from, rfc3339(base.Add(2*time.Minute)))},
			{"truncated", fmt.Sprintf("/api/locations/%d/route?cursor=%s", a.ID, cursor[:len(cursor)-2])},
			{"garbage", fmt.Sprintf("/api/locations/%d/route?cursor=not-a-cursor", a.ID)},
		} {
			res := s.do(t, http.MethodGet, tc.path, ann, "")
			if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), `"cursor: `) {
				t.Errorf("%s: %d %s, want 400 naming cursor", tc.name, res.status, res.body)
			}
		}
		// The same cursor with its own range repeated is fine.
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?limit=1&cursor=%s&from=%s&to=%s", a.ID, cursor, from, to), ann, "").
			want(t, http.StatusOK).json(t, &page)
		if len(page.Points) != 1 || !page.Points[0].RecordedAt.Equal(base.Add(time.Second)) {
			t.Errorf("second page = %+v", page.Points)
		}
	})
}

func TestRouteBadParameters(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		d, _ := s.createDevice(t, ann, "A")
		now := time.Now().UTC()

		for _, tc := range []struct{ query, param string }{
			{"from=yesterday", "from"},
			{"from=2026-11-27", "from"},
			{"to=1795812835", "to"},
			{"from=" + rfc3339(now) + "&to=" + rfc3339(now.Add(-time.Hour)), "from"},
			{"from=" + rfc3339(now) + "&to=" + rfc3339(now), "from"},
			{"from=" + rfc3339(now.Add(-745*time.Hour)) + "&to=" + rfc3339(now), "from"},
			{"limit=0", "limit"},
			{"limit=10001", "limit"},
			{"limit=-5", "limit"},
			{"limit=ten", "limit"},
			{"limit=1.5", "limit"},
			{"simplify=0", "simplify"},
			{"simplify=-1", "simplify"},
			{"simplify=1000.5", "simplify"},
			{"simplify=NaN", "simplify"},
			{"simplify=far", "simplify"},
			{"format=kml", "format"},
			{"cursor=%21%21", "cursor"},
		} {
			res := s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?%s", d.ID, tc.query), ann, "")
			if res.status != http.StatusBadRequest || !strings.HasPrefix(string(res.body), `{"error":"`+tc.param+`: `) {
				t.Errorf("?%s = %d %s, want 400 naming %s", tc.query, res.status, res.body, tc.param)
			}
		}
		// Bounds that hold, and a "+01:00" offset whose "+" the query string made a space.
		for _, query := range []string{
			"limit=1", "limit=10000", "simplify=1000", "simplify=0.5", "format=json", "format=geojson",
			"from=" + rfc3339(now.Add(-744*time.Hour)) + "&to=" + rfc3339(now),
			"from=2026-11-27T20:00:00+01:00&to=2026-11-27T22:00:00Z",
		} {
			s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?%s", d.ID, query), ann, "").want(t, http.StatusOK)
		}
	})
}

// geoJSON is a route as GeoJSON.
type geoJSON struct {
	Type     string `json:"type"`
	Features []struct {
		Type     string `json:"type"`
		Geometry struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
		Properties struct {
			DeviceID   int64       `json:"device_id"`
			CoordTimes []time.Time `json:"coordTimes"`
		} `json:"properties"`
	} `json:"features"`
	NextCursor *string `json:"next_cursor"`
}

func TestRouteGeoJSON(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

		for _, n := range []int{0, 1, 2, 5} {
			t.Run(fmt.Sprint(n, " points"), func(t *testing.T) {
				d, token := s.createDevice(t, ann, fmt.Sprint(n, " points"))
				var points []string
				var wantCoords [][2]float64
				var wantTimes []time.Time
				for i := range n {
					at := base.Add(time.Duration(i) * time.Second)
					points = append(points, point(at, i))
					wantCoords = append(wantCoords, [2]float64{13.405, 52.52 + float64(i)*0.00001})
					wantTimes = append(wantTimes, at)
				}
				if n > 0 {
					s.ingest(t, token, points...)
				}
				res := s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?format=geojson", d.ID), ann, "").want(t, http.StatusOK)
				if ct := res.header.Get("Content-Type"); ct != "application/geo+json" {
					t.Errorf("Content-Type = %q", ct)
				}
				var fc geoJSON
				res.json(t, &fc)
				if fc.Type != "FeatureCollection" || fc.NextCursor != nil {
					t.Errorf("collection = %s", res.body)
				}
				if n == 0 {
					if fc.Features == nil || len(fc.Features) != 0 {
						t.Errorf("features = %s, want []", res.body)
					}
					return
				}
				if len(fc.Features) != 1 {
					t.Fatalf("%d features, want 1: %s", len(fc.Features), res.body)
				}
				f := fc.Features[0]
				var coords [][2]float64
				switch {
				case n == 1 && f.Geometry.Type == "Point":
					var c [2]float64
					if err := json.Unmarshal(f.Geometry.Coordinates, &c); err != nil {
						t.Fatal(err)
					}
					coords = [][2]float64{c}
				case n >= 2 && f.Geometry.Type == "LineString":
					if err := json.Unmarshal(f.Geometry.Coordinates, &coords); err != nil {
						t.Fatal(err)
					}
				default:
					t.Fatalf("%d points as a %s", n, f.Geometry.Type)
				}
				if f.Type != "Feature" || f.Properties.DeviceID != d.ID {
					t.Errorf("feature = %s", res.body)
				}
				if diff := cmp.Diff(wantCoords, coords); diff != "" {
					t.Errorf("coordinates, longitude first (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(wantTimes, f.Properties.CoordTimes); diff != "" {
					t.Errorf("coordTimes (-want +got):\n%s", diff)
				}
			})
		}

		// next_cursor is a foreign member, and pages join up.
		d, token := s.createDevice(t, ann, "paged")
		s.ingest(t, token, point(base, 0), point(base.Add(time.Second), 1), point(base.Add(2*time.Second), 2))
		var fc geoJSON
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?format=geojson&limit=2", d.ID), ann, "").
			want(t, http.StatusOK).json(t, &fc)
		if fc.NextCursor == nil || len(fc.Features) != 1 || len(fc.Features[0].Properties.CoordTimes) != 2 {
			t.Fatalf("first page = %+v", fc)
		}
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?format=geojson&limit=2&cursor=%s", d.ID, url.QueryEscape(*fc.NextCursor)), ann, "").
			want(t, http.StatusOK).json(t, &fc)
		if fc.NextCursor != nil || fc.Features[0].Geometry.Type != "Point" || !fc.Features[0].Properties.CoordTimes[0].Equal(base.Add(2*time.Second)) {
			t.Errorf("second page = %+v", fc)
		}
	})
}

// TestRouteSimplifyHTTP: a straight walk north with one 50 m detour east,
// read with simplify=5, keeps its ends and the detour's corner only.
func TestRouteSimplifyHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		d, token := s.createDevice(t, ann, "walker")
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

		const mPerDeg = 6371008.8 * math.Pi / 180
		var points []string
		for i := range 21 {
			east := 0.0
			if i == 10 {
				east = 50
			}
			b, _ := json.Marshal(map[string]any{
				"recorded_at": rfc3339(base.Add(time.Duration(i) * time.Second)),
				"lat":         52.52 + float64(i)*10/mPerDeg,
				"lon":         13.405 + east/(mPerDeg*math.Cos(52.52*math.Pi/180)),
			})
			points = append(points, string(b))
		}
		s.ingest(t, token, points...)

		var page routePage
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?simplify=5", d.ID), ann, "").want(t, http.StatusOK).json(t, &page)
		var kept []int
		for _, p := range page.Points {
			kept = append(kept, int(p.RecordedAt.Sub(base)/time.Second))
		}
		if diff := cmp.Diff([]int{0, 9, 10, 11, 20}, kept); diff != "" {
			t.Errorf("kept points by second (-want +got):\n%s", diff)
		}
		if page.Count != 5 || page.RawCount != 21 || !page.Simplified {
			t.Errorf("count %d, raw_count %d, simplified %t; want 5, 21, true", page.Count, page.RawCount, page.Simplified)
		}
		// Without simplify, all 21.
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route", d.ID), ann, "").want(t, http.StatusOK).json(t, &page)
		if page.Count != 21 || page.Simplified {
			t.Errorf("unsimplified: count %d, simplified %t", page.Count, page.Simplified)
		}
	})
}

func TestRouteGzip(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		var points []string
		for i := range 500 {
			points = append(points, point(base.Add(time.Duration(i)*time.Second), i))
		}
		s.ingest(t, token, points...)
		// A fixed range: the default "to" is now, which would differ between requests.
		path := fmt.Sprintf("/api/locations/%d/route?from=%s&to=%s", d.ID, rfc3339(base), rfc3339(base.Add(time.Hour)))

		plain := s.do(t, http.MethodGet, path, ann, "").want(t, http.StatusOK)
		for _, format := range []string{"json", "geojson"} {
			for _, tc := range []struct {
				accept string
				gzip   bool
			}{
				{"gzip", true},
				{"br;q=1.0, gzip;q=0.8", true},
				{"*", true},
				{"gzip;q=0", false},
				{"identity", false},
				{"", false},
			} {
				res := s.do(t, http.MethodGet, path+"&format="+format, ann, "", "Accept-Encoding", tc.accept).want(t, http.StatusOK)
				if got := res.header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
					t.Errorf("%s, Accept-Encoding %q: gzip %t, want %t", format, tc.accept, got, tc.gzip)
					continue
				}
				if !strings.Contains(res.header.Get("Vary"), "Accept-Encoding") {
					t.Errorf("Vary = %q", res.header.Get("Vary"))
				}
				body := res.body
				if tc.gzip {
					zr, err := gzip.NewReader(bytes.NewReader(res.body))
					if err != nil {
						t.Fatal(err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatalf("gunzip: %v", err)
					}
					if len(res.body) >= len(body) {
						t.Errorf("gzip made %d bytes of %d", len(res.body), len(body))
					}
				}
				if !json.Valid(body) {
					t.Errorf("%s, Accept-Encoding %q: invalid JSON %.200q", format, tc.accept, body)
				}
				if format == "json" && !bytes.Equal(body, plain.body) {
					t.Errorf("gzip changed the JSON")
				}
			}
		}
	})
}

func TestLatestETag(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		path := fmt.Sprintf("/api/locations/%d/latest", d.ID)

		empty := s.do(t, http.MethodGet, path, ann, "").want(t, http.StatusOK)
		if want := fmt.Sprintf(`{"device_id":%d,"location":null}`+"\n", d.ID); string(empty.body) != want {
			t.Errorf("latest of a silent device = %q, want %q", empty.body, want)
		}

		at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
		s.ingest(t, token, `{"recorded_at":"`+rfc3339(at)+`","lat":52.52,"lon":13.4,"accuracy_m":4.8,"altitude_m":41.2,"speed_mps":1.39,"course_deg":271.5,"battery_pct":87}`)
		first := s.do(t, http.MethodGet, path, ann, "").want(t, http.StatusOK)
		etag := first.header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || etag == empty.header.Get("ETag") {
			t.Errorf("ETag = %q (empty device: %q), want a new strong tag", etag, empty.header.Get("ETag"))
		}
		if cc := first.header.Get("Cache-Control"); !strings.Contains(cc, "private") {
			t.Errorf("Cache-Control = %q, want private", cc)
		}
		var got struct {
			DeviceID int64 `json:"device_id"`
			Location struct {
				RecordedAt time.Time  `json:"recorded_at"`
				ReceivedAt *time.Time `json:"received_at"`
				Lat        float64    `json:"lat"`
				BatteryPct *float64   `json:"battery_pct"`
				CourseDeg  *float64   `json:"course_deg"`
			} `json:"location"`
		}
		first.json(t, &got)
		if got.DeviceID != d.ID || !got.Location.RecordedAt.Equal(at) || got.Location.ReceivedAt == nil ||
			got.Location.Lat != 52.52 || *got.Location.BatteryPct != 87 || *got.Location.CourseDeg != 271.5 {
			t.Errorf("latest = %s", first.body)
		}

		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			res := s.do(t, http.MethodGet, path, ann, "", "If-None-Match", inm)
			if res.status != http.StatusNotModified || len(res.body) != 0 || res.header.Get("ETag") != etag {
				t.Errorf("If-None-Match %s: %d %q, ETag %q; want 304 with the tag", inm, res.status, res.body, res.header.Get("ETag"))
			}
		}
		s.do(t, http.MethodGet, path, ann, "", "If-None-Match", `"stale"`).want(t, http.StatusOK)

		// An older fix changes nothing; a newer one changes the tag.
		s.ingest(t, token, point(at.Add(-time.Hour), 1))
		if res := s.do(t, http.MethodGet, path, ann, "", "If-None-Match", etag); res.status != http.StatusNotModified {
			t.Errorf("after an older fix: %d, want 304", res.status)
		}
		s.ingest(t, token, point(at.Add(time.Second), 2))
		res := s.do(t, http.MethodGet, path, ann, "", "If-None-Match", etag).want(t, http.StatusOK)
		if res.header.Get("ETag") == etag {
			t.Error("a newer fix kept the ETag")
		}
	})
}

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
			for _, id := range []any{d.ID, bobs.ID, "abc"} {
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

package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/tracking"
)

// storedPoint is a route point with every field, as the API shows it.
type storedPoint struct {
	RecordedAt time.Time `json:"recorded_at"`
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	AccuracyM  *float64  `json:"accuracy_m"`
	AltitudeM  *float64  `json:"altitude_m"`
	SpeedMPS   *float64  `json:"speed_mps"`
	CourseDeg  *float64  `json:"course_deg"`
	BatteryPct *float64  `json:"battery_pct"`
	Motion     *bool     `json:"motion"`
	OdometerM  *float64  `json:"odometer_m"`
	Charging   *bool     `json:"charging"`
	Activity   *string   `json:"activity"`
	Event      *string   `json:"event"`
	Alarm      *string   `json:"alarm"`
}

// routePoints reads the device's points of the last 24 hours through the API.
func (s *trackingServer) routePoints(t *testing.T, session string, deviceID int64) []storedPoint {
	t.Helper()
	var page struct{ Points []storedPoint }
	s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/route?to=%s", deviceID, rfc3339(time.Now().Add(11*time.Minute))), session, "").
		want(t, http.StatusOK).json(t, &page)
	return page.Points
}

func f64(v float64) *float64 { return &v }

// TestIngestValidationHTTP applies "Point validation" and the rules of the
// attributes (motion … alarm) rule by rule through POST
// /api/ingest/locations: each point is stored as normalized, and every read
// shows it so, or it is rejected with its index and the field, never
// failing the batch.
func TestIngestValidationHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		now := time.Now().UTC().Truncate(time.Second)
		at := func(d time.Duration) string { return rfc3339(now.Add(d)) }
		withAttrs := func(attrs string) string {
			return `{"recorded_at":"` + at(-time.Hour) + `","lat":52.52,"lon":13.4` + attrs + `}`
		}
		attrs := func(p storedPoint) *storedPoint {
			p.RecordedAt, p.Lat, p.Lon = now.Add(-time.Hour), 52.52, 13.4
			return &p
		}

		tests := []struct {
			name   string
			point  string
			reject string       // the rejection, "" when stored
			want   *storedPoint // as stored, the newest point of its device
		}{
			{name: "all fields", point: `{"recorded_at":"` + at(-time.Hour) + `","lat":52.52,"lon":13.4,"accuracy_m":4.8,"altitude_m":41.2,"speed_mps":1.39,"course_deg":271.5,"battery_pct":87}`,
				want: &storedPoint{RecordedAt: now.Add(-time.Hour), Lat: 52.52, Lon: 13.4, AccuracyM: f64(4.8), AltitudeM: f64(41.2), SpeedMPS: f64(1.39), CourseDeg: f64(271.5), BatteryPct: f64(87)}},
			{name: "offset, sub-millisecond", point: `{"recorded_at":"` + now.Add(-time.Hour).In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05") + `.123456789+01:00","lat":1,"lon":2}`,
				want: &storedPoint{RecordedAt: now.Add(-time.Hour + 123*time.Millisecond), Lat: 1, Lon: 2}},
			{name: "nulls are unknown", point: `{"recorded_at":"` + at(-time.Hour) + `","lat":1,"lon":2,"accuracy_m":null,"speed_mps":null}`,
				want: &storedPoint{RecordedAt: now.Add(-time.Hour), Lat: 1, Lon: 2}},
			{name: "sentinels become null, course 360 becomes 0", point: `{"recorded_at":"` + at(-time.Hour) + `","lat":1,"lon":2,"accuracy_m":-1,"speed_mps":-1,"course_deg":360}`,
				want: &storedPoint{RecordedAt: now.Add(-time.Hour), Lat: 1, Lon: 2, CourseDeg: f64(0)}},
			{name: "negative course", point: `{"recorded_at":"` + at(-time.Hour) + `","lat":1,"lon":2,"course_deg":-1}`,
				want: &storedPoint{RecordedAt: now.Add(-time.Hour), Lat: 1, Lon: 2}},
			{name: "edges hold", point: `{"recorded_at":"` + at(9*time.Minute) + `","lat":-90,"lon":180,"speed_mps":350,"altitude_m":100000,"battery_pct":0}`,
				want: &storedPoint{RecordedAt: now.Add(9 * time.Minute), Lat: -90, Lon: 180, SpeedMPS: f64(350), AltitudeM: f64(100000), BatteryPct: f64(0)}},
			{name: "11 minutes ahead", point: `{"recorded_at":"` + at(11*time.Minute) + `","lat":1,"lon":2}`, reject: "recorded_at: must not be more than 10 minutes in the future"},
			{name: "older than LOCATION_MAX_AGE", point: `{"recorded_at":"` + at(-366*24*time.Hour) + `","lat":1,"lon":2}`, reject: "recorded_at: must not be older than 365 days"},
			{name: "no recorded_at", point: `{"lat":1,"lon":2}`, reject: "recorded_at: required"},
			{name: "recorded_at not RFC 3339", point: `{"recorded_at":"2026-11-27 20:53:55","lat":1,"lon":2}`, reject: "recorded_at: must be an RFC 3339 time string"},
			{name: "recorded_at a number", point: `{"recorded_at":1795812835,"lat":1,"lon":2}`, reject: "recorded_at: must be an RFC 3339 time string"},
			{name: "no lat", point: `{"recorded_at":"` + at(0) + `","lon":2}`, reject: "lat: required"},
			{name: "no lon", point: `{"recorded_at":"` + at(0) + `","lat":1}`, reject: "lon: required"},
			{name: "lat a string", point: `{"recorded_at":"` + at(0) + `","lat":"52.5","lon":2}`, reject: "lat: must be a number"},
			{name: "lat beyond float64", point: `{"recorded_at":"` + at(0) + `","lat":1e400,"lon":2}`, reject: "lat: must be a number"},
			{name: "lat 90.1", point: `{"recorded_at":"` + at(0) + `","lat":90.1,"lon":2}`, reject: "lat: must be between -90 and 90"},
			{name: "lon -181", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":-181}`, reject: "lon: must be between -180 and 180"},
			{name: "null island", point: `{"recorded_at":"` + at(0) + `","lat":0,"lon":0}`, reject: "lat/lon: must not be exactly (0, 0)"},
			{name: "speed 350.5", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":2,"speed_mps":350.5}`, reject: "speed_mps: must not exceed 350"},
			{name: "course 400", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":2,"course_deg":400}`, reject: "course_deg: must be between 0 and 360"},
			{name: "altitude -1001", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":2,"altitude_m":-1001}`, reject: "altitude_m: must be between -1000 and 100000"},
			{name: "altitude 100001", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":2,"altitude_m":100001}`, reject: "altitude_m: must be between -1000 and 100000"},
			{name: "battery 100.5", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":2,"battery_pct":100.5}`, reject: "battery_pct: must be between 0 and 100"},
			{name: "battery -1", point: `{"recorded_at":"` + at(0) + `","lat":1,"lon":2,"battery_pct":-1}`, reject: "battery_pct: must be between 0 and 100"},
			{name: "not an object", point: `[1,2]`, reject: "point: must be a JSON object"},

			// The attributes, on a point at 52.52, 13.4 an hour ago.
			{name: "every attribute", point: withAttrs(`,"motion":true,"odometer_m":12345.6,"charging":false,"activity":"on_foot","event":"motionchange","alarm":"sos"`),
				want: attrs(storedPoint{Motion: ptrTo(true), OdometerM: f64(12345.6), Charging: ptrTo(false), Activity: ptrTo("on_foot"), Event: ptrTo("motionchange"), Alarm: ptrTo("sos")})},
			{name: "null attributes", point: withAttrs(`,"motion":null,"odometer_m":null,"charging":null,"activity":null,"event":null,"alarm":null`), want: attrs(storedPoint{})},
			{name: "texts trimmed, blank is null", point: withAttrs(`,"alarm":" sos ","event":"   ","activity":""`), want: attrs(storedPoint{Alarm: ptrTo("sos")})},
			{name: "32 characters", point: withAttrs(`,"event":"` + strings.Repeat("e", 32) + `"`), want: attrs(storedPoint{Event: ptrTo(strings.Repeat("e", 32))})},
			{name: "HTML and quotes kept", point: withAttrs(`,"event":"<a href=\"x\">&"`), want: attrs(storedPoint{Event: ptrTo(`<a href="x">&`)})},
			{name: "odometer 0", point: withAttrs(`,"odometer_m":0`), want: attrs(storedPoint{OdometerM: f64(0)})},
			{name: "motion a string", point: withAttrs(`,"motion":"yes"`), reject: "motion: must be true or false"},
			{name: "charging a number", point: withAttrs(`,"charging":1`), reject: "charging: must be true or false"},
			{name: "odometer a string", point: withAttrs(`,"odometer_m":"12"`), reject: "odometer_m: must be a number"},
			{name: "odometer negative", point: withAttrs(`,"odometer_m":-1`), reject: "odometer_m: must be between 0 and 10000000000"},
			{name: "odometer too far", point: withAttrs(`,"odometer_m":1e11`), reject: "odometer_m: must be between 0 and 10000000000"},
			{name: "event 33 characters", point: withAttrs(`,"event":"` + strings.Repeat("e", 33) + `"`), reject: "event: must be at most 32 characters"},
			{name: "alarm with a control character", point: withAttrs(`,"alarm":"s\u0007s"`), reject: "alarm: must not contain control characters"},
			{name: "activity a number", point: withAttrs(`,"activity":5`), reject: "activity: must be a string"},
			{name: "alarm a lone surrogate", point: withAttrs(`,"alarm":"\ud800"`), reject: "alarm: must be valid UTF-8"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d, token := s.createDevice(t, ann, tt.name)
				// Between two valid points: a bad one fails neither.
				res := s.ingest(t, token, point(now.Add(-3*time.Hour), 0), tt.point, point(now.Add(-2*time.Hour), 1))
				points := s.routePoints(t, ann, d.ID)
				if tt.reject != "" {
					if res.Received != 3 || res.Stored != 2 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 ||
						res.Rejected[0].Error != tt.reject {
						t.Errorf("ingest = %+v, want point 1 rejected with %q", res, tt.reject)
					}
					if len(points) != 2 {
						t.Errorf("%d points stored, want the 2 valid ones", len(points))
					}
					return
				}
				if res.Received != 3 || res.Stored != 3 || len(res.Rejected) != 0 || res.Rejected == nil {
					t.Fatalf("ingest = %+v, want all 3 stored and rejected: []", res)
				}
				var got *storedPoint
				for i := range points {
					if points[i].RecordedAt.Equal(tt.want.RecordedAt) {
						got = &points[i]
					}
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("stored (-want +got):\n%s", diff)
				}
				// latest and the device's last_location show the same.
				var latest struct {
					Location storedPoint `json:"location"`
				}
				s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/latest", d.ID), ann, "").want(t, http.StatusOK).json(t, &latest)
				var dev device
				s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", d.ID), ann, "").want(t, http.StatusOK).json(t, &dev)
				var last storedPoint
				if err := json.Unmarshal(dev.LastLocation, &last); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, &latest.Location); diff != "" {
					t.Errorf("latest (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.want, &last); diff != "" {
					t.Errorf("last_location (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestIngestDuplicatesHTTP: within a batch and across batches, a point's
// (device, recorded_at) is stored once, by its first write.
func TestIngestDuplicatesHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

		// base and base+0.4ms share a millisecond: recorded_at is kept to the ms.
		first := s.ingest(t, token,
			point(base, 1), point(base.Add(400*time.Microsecond), 2), point(base.Add(time.Second), 3), point(base, 4))
		if first.Received != 4 || first.Stored != 2 || first.Duplicates != 2 {
			t.Errorf("first batch = %+v, want 2 stored, 2 duplicates", first)
		}
		retry := s.ingest(t, token, point(base, 5), point(base.Add(time.Second), 6), point(base.Add(2*time.Second), 7))
		if retry.Received != 3 || retry.Stored != 1 || retry.Duplicates != 2 {
			t.Errorf("second batch = %+v, want 1 stored, 2 duplicates", retry)
		}
		var lats []float64
		for _, p := range s.routePoints(t, ann, d.ID) {
			lats = append(lats, p.Lat)
		}
		var want []float64
		for _, n := range []int{1, 3, 7} {
			var p storedPoint
			if err := json.Unmarshal([]byte(point(base, n)), &p); err != nil {
				t.Fatal(err)
			}
			want = append(want, p.Lat)
		}
		if diff := cmp.Diff(want, lats); diff != "" {
			t.Errorf("stored points: the first write must win (-want +got):\n%s", diff)
		}
	})
}

// TestIngestLateOlderFixHTTP: an older fix arriving later is stored and
// marks the device seen, but does not move latest.
func TestIngestLateOlderFixHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		newer := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
		latest := func() (time.Time, time.Time) {
			t.Helper()
			var dev device
			s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", d.ID), ann, "").want(t, http.StatusOK).json(t, &dev)
			var loc struct {
				RecordedAt time.Time `json:"recorded_at"`
			}
			if err := json.Unmarshal(dev.LastLocation, &loc); err != nil {
				t.Fatal(err)
			}
			return loc.RecordedAt, *dev.LastSeenAt
		}

		s.ingest(t, token, point(newer, 1))
		fix1, seen1 := latest()
		time.Sleep(5 * time.Millisecond)
		s.ingest(t, token, point(newer.Add(-time.Hour), 2))
		fix2, seen2 := latest()
		if !fix1.Equal(newer) || !fix2.Equal(newer) {
			t.Errorf("latest fix %v then %v, want %v both times", fix1, fix2, newer)
		}
		if !seen2.After(seen1) {
			t.Errorf("last_seen_at %v then %v: the late report must count", seen1, seen2)
		}
		if n := len(s.routePoints(t, ann, d.ID)); n != 2 {
			t.Errorf("%d points on the route, want both", n)
		}
		var l struct {
			Location struct {
				RecordedAt time.Time `json:"recorded_at"`
			} `json:"location"`
		}
		s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/latest", d.ID), ann, "").want(t, http.StatusOK).json(t, &l)
		if !l.Location.RecordedAt.Equal(newer) {
			t.Errorf("latest = %v, want %v", l.Location.RecordedAt, newer)
		}
	})
}

// TestIngestAuthentication: the token is checked before the body, and
// every bad token answers the same 401.
func TestIngestAuthentication(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, oldToken := s.annsDevice(t)
		var rotated struct {
			IngestToken string `json:"ingest_token"`
		}
		s.do(t, http.MethodPost, fmt.Sprintf("/api/devices/%d/token", d.ID), ann, "").want(t, http.StatusOK).json(t, &rotated)
		token := rotated.IngestToken
		body := `{"locations":[` + point(time.Now().Add(-time.Minute), 0) + `]}`
		const unauthorized = `{"error":"invalid device token"}` + "\n"

		for name, bad := range map[string]string{
			"missing":       "",
			"an IMEI":       "353861053849681",
			"unknown":       "trk_" + strings.Repeat("0", 26),
			"lowercase":     strings.ToLower(token),
			"rotated":       oldToken,
			"session token": ann,
		} {
			res := s.do(t, http.MethodPost, "/api/ingest/locations", bad, body)
			if res.status != http.StatusUnauthorized || string(res.body) != unauthorized {
				t.Errorf("%s token: %d %q, want 401 %q", name, res.status, res.body, unauthorized)
			}
		}

		big := `{"locations":[` + strings.Repeat(point(time.Now(), 0)+",", 20000) + point(time.Now(), 0) + `]}`
		var tooMany []string
		for i := range tracking.MaxIngestPoints + 1 {
			tooMany = append(tooMany, point(time.Now().Add(-time.Duration(i)*time.Second), i))
		}
		for _, tc := range []struct {
			name, body string
			status     int
			want       string
		}{
			{"not JSON", `{"locations":`, http.StatusBadRequest, "not valid JSON"},
			{"no locations", `{}`, http.StatusBadRequest, "locations: must hold 1 to 1000 points"},
			{"empty", `{"locations":[]}`, http.StatusBadRequest, "locations: must hold 1 to 1000 points"},
			{"1001 points", `{"locations":[` + strings.Join(tooMany, ",") + `]}`, http.StatusBadRequest, "locations: must hold 1 to 1000 points"},
			{"locations not an array", `{"locations":{}}`, http.StatusBadRequest, "locations"},
			{"over 1 MiB", big, http.StatusRequestEntityTooLarge, "larger than"},
		} {
			res := s.do(t, http.MethodPost, "/api/ingest/locations", token, tc.body)
			if res.status != tc.status || !strings.Contains(string(res.body), tc.want) {
				t.Errorf("%s: %d %s, want %d with %q", tc.name, res.status, res.body, tc.status, tc.want)
			}
			// The same body with an unknown token: 401 first.
			res = s.do(t, http.MethodPost, "/api/ingest/locations", oldToken, tc.body)
			if res.status != http.StatusUnauthorized {
				t.Errorf("%s, unknown token: %d, want 401", tc.name, res.status)
			}
		}
		// 1000 points are fine.
		if res := s.ingest(t, token, tooMany[:tracking.MaxIngestPoints]...); res.Stored != tracking.MaxIngestPoints {
			t.Errorf("1000 points: %+v", res)
		}
	})
}

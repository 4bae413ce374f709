package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// fixture reads testdata/trackers/name: a message as the app sends it,
// written from the apps' formats, with {{token}}, {{unix}} (Unix seconds)
// and {{rfc3339}} (the same time) filled in.
func fixture(t *testing.T, name, token string, at time.Time) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "trackers", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		"{{token}}", token,
		"{{unix}}", strconv.FormatInt(at.Unix(), 10),
		"{{rfc3339}}", at.UTC().Format(time.RFC3339Nano),
	).Replace(string(b))
}

// basicAuth is the Authorization header the OwnTracks apps send.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestTrackerFixtures sends one message of each kind the apps send, as they
// send it, and reads back what was stored: points with their attributes,
// the device's last_seen_at and push registration.
func TestTrackerFixtures(t *testing.T) {
	const knot = 1852.0 / 3600
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

		type app struct {
			route, contentType string
			basic              bool // OwnTracks: the token as the Basic password
			wantBody           string
		}
		traccar10 := app{route: "/api/ingest/osmand", contentType: "application/x-www-form-urlencoded"}
		traccar9 := app{route: "/api/ingest/osmand", contentType: "application/json"}
		owntracks := app{route: "/api/ingest/owntracks", contentType: "application/json", basic: true, wantBody: "[]\n"}

		tests := []struct {
			fixture string
			app     app
			want    []storedPoint
			seen    bool   // last_seen_at moves
			pushed  string // the push token registered, "" for none
		}{
			{
				fixture: "traccar10-position-sos.form", app: traccar10, seen: true,
				want: []storedPoint{{RecordedAt: at, Lat: 52.520008, Lon: 13.404954, AccuracyM: f64(4.8), AltitudeM: f64(41.2),
					SpeedMPS: f64(2.7 * knot), CourseDeg: f64(271.5), BatteryPct: f64(87), Charging: ptrTo(true), Alarm: ptrTo("sos")}},
			},
			{fixture: "traccar10-heartbeat.form", app: traccar10, seen: true},
			{fixture: "traccar10-push-token.form", app: traccar10, pushed: "dGVzdC1pbnN0YW5jZQ:APA91bHq2_usersync-fixture-push-token-0123456789abcdefABCDEF"},
			{
				fixture: "traccar9-location-alarm.json", app: traccar9, seen: true,
				want: []storedPoint{{RecordedAt: at, Lat: 52.520008, Lon: 13.404954, AccuracyM: f64(4.8), AltitudeM: f64(41.2),
					SpeedMPS: f64(1.39), CourseDeg: f64(271.5), BatteryPct: f64(87), Motion: ptrTo(true), OdometerM: f64(12345.6),
					Charging: ptrTo(false), Activity: ptrTo("walking"), Event: ptrTo("motionchange"), Alarm: ptrTo("sos")}},
			},
			{
				// speed and heading -1: unknown; event "": none.
				fixture: "traccar9-extras-alarm.json", app: traccar9, seen: true,
				want: []storedPoint{{RecordedAt: at, Lat: 48.858222, Lon: 2.2945, AccuracyM: f64(12), AltitudeM: f64(35.5),
					BatteryPct: f64(50), Motion: ptrTo(false), OdometerM: f64(0), Charging: ptrTo(true), Activity: ptrTo("still"), Alarm: ptrTo("sos")}},
			},
			{
				fixture: "owntracks-location.json", app: owntracks, seen: true,
				want: []storedPoint{{RecordedAt: at, Lat: 52.520008, Lon: 13.404954, AccuracyM: f64(5), AltitudeM: f64(41),
					SpeedMPS: f64(5), CourseDeg: f64(271), BatteryPct: f64(87), Charging: ptrTo(true), Event: ptrTo("u")}},
			},
			{fixture: "owntracks-transition.json", app: owntracks},
			{fixture: "owntracks-waypoint.json", app: owntracks},
			{fixture: "owntracks-status.json", app: owntracks},
			{fixture: "owntracks-empty.json", app: owntracks},
		}
		for _, tt := range tests {
			t.Run(tt.fixture, func(t *testing.T) {
				d, token := s.createDevice(t, ann, tt.fixture)
				body := fixture(t, tt.fixture, token, at)
				auth := "" // Traccar Client: the token is in the body
				if tt.app.basic {
					auth = basicAuth("ann", token)
				}
				send := func() response {
					req := s.newRequest(t, http.MethodPost, tt.app.route, body)
					req.Header.Set("Content-Type", tt.app.contentType)
					if auth != "" {
						req.Header.Set("Authorization", auth)
					}
					return s.send(t, req)
				}
				res := send()
				if res.status != http.StatusOK || string(res.body) != tt.app.wantBody {
					t.Fatalf("%d %q, want 200 %q", res.status, res.body, tt.app.wantBody)
				}
				if diff := cmp.Diff(tt.want, s.routePoints(t, ann, d.ID), cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("stored (-want +got):\n%s", diff)
				}
				var got device
				s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", d.ID), ann, "").want(t, http.StatusOK).json(t, &got)
				if seen := got.LastSeenAt != nil; seen != tt.seen {
					t.Errorf("last_seen_at %v, want set: %t", got.LastSeenAt, tt.seen)
				}
				if wantLocation := len(tt.want) > 0; (string(got.LastLocation) != "null") != wantLocation {
					t.Errorf("last_location %s, want one: %t", got.LastLocation, wantLocation)
				}
				if got.PushRegistered != (tt.pushed != "") {
					t.Errorf("push_registered %t, want %t", got.PushRegistered, tt.pushed != "")
				}
				var stored *string
				if err := s.db.NewSelect().Table("devices").Column("push_token").Where("id = ?", d.ID).Scan(context.Background(), &stored); err != nil {
					t.Fatal(err)
				}
				if (stored == nil) != (tt.pushed == "") || stored != nil && *stored != tt.pushed {
					t.Errorf("stored push token %v, want %q", stored, tt.pushed)
				}

				// A retry is a duplicate: still 200, nothing more stored.
				if res := send(); res.status != http.StatusOK {
					t.Errorf("retry: %d %s", res.status, res.body)
				}
				if n := len(s.routePoints(t, ann, d.ID)); n != len(tt.want) {
					t.Errorf("%d points after a retry, want %d", n, len(tt.want))
				}
			})
		}

		logs := s.logs.String()
		if strings.Contains(logs, "APA91b") || strings.Contains(logs, "trk_") {
			t.Errorf("a device or push token reached the logs:\n%s", logs)
		}
	})
}

// TestOsmAndPushTokenErrors: a bad push token is a 400 for a known device
// only; an unknown token is a 401 first.
func TestOsmAndPushTokenErrors(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		form := func(id, push string) string { return url.Values{"id": {id}, "notificationToken": {push}}.Encode() }
		post := func(body string) response {
			return s.do(t, http.MethodPost, "/api/ingest/osmand", "", body, "Content-Type", "application/x-www-form-urlencoded")
		}
		if res := post(form(token, "has space")); res.status != http.StatusBadRequest ||
			!strings.Contains(string(res.body), "notificationToken: must be 1 to 1024 printable ASCII characters without spaces") {
			t.Errorf("a push token with a space: %d %s, want 400 naming notificationToken", res.status, res.body)
		}
		if res := post(form(token, strings.Repeat("x", 1025))); res.status != http.StatusBadRequest {
			t.Errorf("a push token of 1025 characters: %d %s, want 400", res.status, res.body)
		}
		for _, id := range []string{"353861053849681", "trk_" + strings.Repeat("0", 26)} {
			if res := post(form(id, "fcm:ok")); res.status != http.StatusUnauthorized {
				t.Errorf("push token with id %s: %d %s, want 401", id, res.status, res.body)
			}
		}
		var got device
		s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", d.ID), ann, "").want(t, http.StatusOK).json(t, &got)
		if got.PushRegistered {
			t.Error("push_registered after refused registrations")
		}

		// A token rotation drops the registration.
		post(form(token, "fcm:ok")).want(t, http.StatusOK)
		s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", d.ID), ann, "").want(t, http.StatusOK).json(t, &got)
		if !got.PushRegistered {
			t.Fatal("not push_registered after a registration")
		}
		var rotated struct {
			Device device `json:"device"`
		}
		s.do(t, http.MethodPost, fmt.Sprintf("/api/devices/%d/token", d.ID), ann, "").want(t, http.StatusOK).json(t, &rotated)
		if rotated.Device.PushRegistered {
			t.Error("push_registered after a token rotation")
		}
	})
}

// TestOsmAnd sends what Traccar Client and OsmAnd send, in each of the
// protocol's forms, and reads back what was stored.
func TestOsmAnd(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		fix := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		const knot = 1852.0 / 3600

		type request struct {
			method, query, contentType, body, bearer string
		}
		tests := []struct {
			name string
			req  func(token string) request
			want []storedPoint
		}{
			{
				name: "GET with Unix seconds and knots",
				req: func(token string) request {
					return request{method: http.MethodGet, query: url.Values{
						"id": {token}, "lat": {"52.52"}, "lon": {"13.4"}, "timestamp": {strconv.FormatInt(fix.Unix(), 10)},
						"speed": {"10"}, "bearing": {"90"}, "altitude": {"41.2"}, "accuracy": {"4.8"}, "batt": {"87"},
					}.Encode()}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: 52.52, Lon: 13.4, SpeedMPS: f64(10 * knot), CourseDeg: f64(90), AltitudeM: f64(41.2), AccuracyM: f64(4.8), BatteryPct: f64(87)}},
			},
			{
				name: "POST with the query, Unix milliseconds, heading",
				req: func(token string) request {
					return request{method: http.MethodPost, query: url.Values{
						"id": {token}, "lat": {"52.52"}, "lon": {"13.4"}, "timestamp": {strconv.FormatInt(fix.UnixMilli()+123, 10)}, "heading": {"360"},
					}.Encode()}
				},
				want: []storedPoint{{RecordedAt: fix.Add(123 * time.Millisecond), Lat: 52.52, Lon: 13.4, CourseDeg: f64(0)}},
			},
			{
				name: "RFC 3339 with an offset",
				req: func(token string) request {
					return request{method: http.MethodGet, query: url.Values{
						"id": {token}, "lat": {"1"}, "lon": {"2"}, "timestamp": {fix.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)},
					}.Encode()}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: 1, Lon: 2}},
			},
			{
				name: "yyyy-MM-dd HH:mm:ss as UTC",
				req: func(token string) request {
					return request{method: http.MethodGet, query: url.Values{
						"id": {token}, "lat": {"1"}, "lon": {"2"}, "timestamp": {fix.Format(time.DateTime)},
					}.Encode()}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: 1, Lon: 2}},
			},
			{
				name: "form body with deviceid",
				req: func(token string) request {
					return request{method: http.MethodPost, contentType: "application/x-www-form-urlencoded", body: url.Values{
						"deviceid": {token}, "lat": {"-33.87"}, "lon": {"151.21"}, "timestamp": {strconv.FormatInt(fix.Unix(), 10)}, "speed": {"1"},
					}.Encode()}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: -33.87, Lon: 151.21, SpeedMPS: f64(knot)}},
			},
			{
				name: "Traccar Client's nested JSON",
				req: func(token string) request {
					return request{method: http.MethodPost, contentType: "application/json", body: `{"device_id":"` + token + `","location":{
						"timestamp":"` + rfc3339(fix) + `","coords":{"latitude":52.52,"longitude":13.4,"speed":1.39,"heading":271.5,"altitude":41.2,"accuracy":4.8},
						"battery":{"level":0.87,"is_charging":false},"is_moving":true}}`}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: 52.52, Lon: 13.4, SpeedMPS: f64(1.39), CourseDeg: f64(271.5), AltitudeM: f64(41.2), AccuracyM: f64(4.8), BatteryPct: f64(87),
					Motion: ptrTo(true), Charging: ptrTo(false)}},
			},
			{
				name: "JSON array of flat objects",
				req: func(token string) request {
					return request{method: http.MethodPost, contentType: "application/json", body: fmt.Sprintf(
						`[{"id":%q,"lat":1,"lon":2,"timestamp":%d},{"id":%q,"lat":"1.5","lon":"2.5","timestamp":%d}]`,
						token, fix.Unix(), token, fix.Unix()+1)}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: 1, Lon: 2}, {RecordedAt: fix.Add(time.Second), Lat: 1.5, Lon: 2.5}},
			},
			{
				name: "token as a Bearer header",
				req: func(token string) request {
					return request{method: http.MethodPost, bearer: token, query: url.Values{
						"lat": {"1"}, "lon": {"2"}, "timestamp": {strconv.FormatInt(fix.Unix(), 10)},
					}.Encode()}
				},
				want: []storedPoint{{RecordedAt: fix, Lat: 1, Lon: 2}},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d, token := s.createDevice(t, ann, tt.name)
				req := tt.req(token)
				send := func() response {
					var header []string
					if req.contentType != "" {
						header = append(header, "Content-Type", req.contentType)
					}
					return s.do(t, req.method, "/api/ingest/osmand?"+req.query, req.bearer, req.body, header...)
				}
				res := send()
				if res.status != http.StatusOK || len(res.body) != 0 {
					t.Fatalf("%d %q, want 200 with an empty body", res.status, res.body)
				}
				if diff := cmp.Diff(tt.want, s.routePoints(t, ann, d.ID), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
					t.Errorf("stored (-want +got):\n%s", diff)
				}
				// A retry is a duplicate, and still a 200.
				if res := send(); res.status != http.StatusOK {
					t.Errorf("retry: %d %s, want 200", res.status, res.body)
				}
				if n := len(s.routePoints(t, ann, d.ID)); n != len(tt.want) {
					t.Errorf("%d points after a retry, want %d", n, len(tt.want))
				}
			})
		}
	})
}

func TestOsmAndErrors(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		_, other := s.createDevice(t, ann, "Other")
		ts := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
		const unauthorized = `{"error":"invalid device token"}` + "\n"

		for _, tc := range []struct {
			name   string
			query  string
			body   string
			status int
			want   string
		}{
			{"an IMEI", "id=353861053849681&lat=1&lon=2", "", http.StatusUnauthorized, unauthorized},
			{"an unknown token", "id=trk_" + strings.Repeat("Z", 26) + "&lat=1&lon=2", "", http.StatusUnauthorized, unauthorized},
			{"no token", "lat=1&lon=2", "", http.StatusUnauthorized, unauthorized},
			{"a malformed lat", "id=" + token + "&lat=north&lon=2", "", http.StatusBadRequest, `{"error":"lat: malformed number"}` + "\n"},
			{"a malformed lat and an IMEI", "id=353861053849681&lat=north&lon=2", "", http.StatusUnauthorized, unauthorized},
			{"no lon", "id=" + token + "&lat=1", "", http.StatusBadRequest, `{"error":"lon: required"}` + "\n"},
			{"a bad timestamp", "id=" + token + "&lat=1&lon=2&timestamp=soon", "", http.StatusBadRequest, "timestamp: "},
			{"two devices in one request", "", fmt.Sprintf(`[{"id":%q,"lat":1,"lon":2},{"id":%q,"lat":1,"lon":2}]`, token, other), http.StatusBadRequest, "id: "},
			{"over 1 MiB", "id=" + token, strings.Repeat("x", 1<<20+1), http.StatusRequestEntityTooLarge, "larger than"},
		} {
			res := s.do(t, http.MethodPost, "/api/ingest/osmand?"+tc.query, "", tc.body)
			if res.status != tc.status || !strings.Contains(string(res.body), tc.want) {
				t.Errorf("%s: %d %q, want %d with %q", tc.name, res.status, res.body, tc.status, tc.want)
			}
		}

		// A point that fails validation is dropped with a 200 (these clients
		// resend anything else forever) and logged, without the token.
		for _, q := range []string{"lat=0&lon=0", "lat=91&lon=2", "lat=1&lon=2&timestamp=" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)} {
			res := s.do(t, http.MethodGet, "/api/ingest/osmand?id="+token+"&"+q, "", "")
			if res.status != http.StatusOK {
				t.Errorf("%s: %d %s, want 200", q, res.status, res.body)
			}
		}
		if n := len(s.routePoints(t, ann, d.ID)); n != 0 {
			t.Errorf("%d invalid points stored", n)
		}
		s.do(t, http.MethodGet, "/api/ingest/osmand?id="+token+"&lat=1&lon=2&timestamp="+ts, "", "").want(t, http.StatusOK)
		if n := len(s.routePoints(t, ann, d.ID)); n != 1 {
			t.Errorf("%d points stored, want 1", n)
		}
		s.do(t, http.MethodPut, "/api/ingest/osmand?id="+token+"&lat=1&lon=2", "", "").want(t, http.StatusMethodNotAllowed)

		logs := s.logs.String()
		if !strings.Contains(logs, `"msg":"osmand location rejected"`) || !strings.Contains(logs, `"reason":"lat/lon: must not be exactly (0, 0)"`) {
			t.Errorf("no log line for the rejected points:\n%s", logs)
		}
		for _, secret := range []string{token, other} {
			if strings.Contains(logs, secret) || strings.Contains(logs, secret[4:]) {
				t.Errorf("a device token reached the logs:\n%s", logs)
			}
		}
	})
}

// TestOwnTracks: who may post, and the answers OwnTracks needs: 200 [] for
// anything a retry cannot improve, 401 only for a bad token.
func TestOwnTracks(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		tst := time.Now().Add(-time.Hour).Unix()
		location := func(lat float64, tst int64) string {
			return fmt.Sprintf(`{"_type":"location","lat":%v,"lon":13.4,"tst":%d,"tid":"bl"}`, lat, tst)
		}
		post := func(auth, body string) response {
			req := s.newRequest(t, http.MethodPost, "/api/ingest/owntracks", body)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			return s.send(t, req)
		}
		const ok, unauthorized = "[]\n", `{"error":"invalid device token"}` + "\n"

		// Credentials: the token as the Basic password with any user name, or a Bearer token.
		for i, auth := range []string{basicAuth("ann", token), basicAuth("", token), basicAuth("Ann Lee", token), "Bearer " + token} {
			res := post(auth, location(52.52, tst+int64(i)))
			if res.status != http.StatusOK || string(res.body) != ok || res.header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("credentials %d: %d %q (%s), want 200 []", i, res.status, res.body, res.header.Get("Content-Type"))
			}
		}
		if n := len(s.routePoints(t, ann, d.ID)); n != 4 {
			t.Errorf("%d points stored, want 4", n)
		}
		for name, auth := range map[string]string{
			"none":              "",
			"an unknown token":  basicAuth("ann", "trk_"+strings.Repeat("0", 26)),
			"an IMEI":           basicAuth("ann", "353861053849681"),
			"the token as user": basicAuth(token, "secret"),
			"not base64":        "Basic !!!",
			"a session token":   "Bearer " + ann,
		} {
			res := post(auth, location(52.52, tst))
			if res.status != http.StatusUnauthorized || string(res.body) != unauthorized {
				t.Errorf("%s: %d %q, want 401", name, res.status, res.body)
			}
		}

		// A point that breaks a rule, or does not decode, is dropped with
		// 200 [] (OwnTracks iOS deletes a message on a 4xx) and a log line;
		// the device was seen.
		e, eToken := s.createDevice(t, ann, "Rex")
		for _, body := range []string{
			location(91, tst), // out of range
			location(52.52, time.Now().Add(time.Hour).Unix()),                          // from the future
			`{"_type":"location","lon":13.4,"tst":` + strconv.FormatInt(tst, 10) + `}`, // no lat
			`{"_type":"location","lat":"north","lon":13.4,"tst":1}`,                    // not a number
			`{"_type":"location","lat":1,"lon":2,"tst":` + strconv.FormatInt(tst, 10) + `,"bs":7}`,
		} {
			if res := post(basicAuth("ann", eToken), body); res.status != http.StatusOK || string(res.body) != ok {
				t.Errorf("%s: %d %q, want 200 []", body, res.status, res.body)
			}
		}
		if n := len(s.routePoints(t, ann, e.ID)); n != 0 {
			t.Errorf("%d invalid points stored", n)
		}
		var got device
		s.do(t, http.MethodGet, fmt.Sprintf("/api/devices/%d", e.ID), ann, "").want(t, http.StatusOK).json(t, &got)
		if got.LastSeenAt == nil {
			t.Error("a location message with a dropped point did not mark the device seen")
		}
		logs := s.logs.String()
		for _, reason := range []string{"lat: must be between -90 and 90", "recorded_at: must not be more than 10 minutes in the future",
			"lat: required", "lat: must be a number", "bs: must be 0, 1, 2 or 3"} {
			if !strings.Contains(logs, `"msg":"owntracks location rejected"`) || !strings.Contains(logs, `"reason":"`+reason+`"`) {
				t.Errorf("no log line for %q", reason)
			}
		}

		// A body no app sends: 400, after the token.
		for _, body := range []string{`{"_type":"location"`, `[{"_type":"location"}]`, `"location"`} {
			if res := post(basicAuth("ann", token), body); res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "body: must be a JSON object") {
				t.Errorf("%s: %d %q, want 400", body, res.status, res.body)
			}
			if res := post(basicAuth("ann", "trk_"+strings.Repeat("0", 26)), body); res.status != http.StatusUnauthorized {
				t.Errorf("%s with an unknown token: %d, want 401", body, res.status)
			}
		}
		if res := post(basicAuth("ann", token), `{"_type":"card","face":"`+strings.Repeat("A", 1<<20)+`"}`); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("a body over 1 MiB: %d, want 413", res.status)
		}
		s.do(t, http.MethodGet, "/api/ingest/owntracks", token, "").want(t, http.StatusMethodNotAllowed)

		logs = s.logs.String()
		if strings.Contains(logs, token) || strings.Contains(logs, eToken) {
			t.Errorf("a device token reached the logs:\n%s", logs)
		}
	})
}

// TestOwnTracksRateLimited: the limiter's refusal is a 503 with the
// limiter's Retry-After on the OwnTracks route, a 429 on the others.
func TestOwnTracksRateLimited(t *testing.T) {
	srv := oaServer(t, sqliteDB(t), oaConfig{burst: 1}) // one request, refilled in 1000 s
	ctx := context.Background()
	email := "ann@example.com"
	u, err := srv.App.Users.Upsert(ctx, users.Write{ClerkUserID: "user_ann", Email: &email, Version: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := srv.App.Tracking.CreateDevice(ctx, u.User.ID, tracking.NewDevice{Name: "Bella"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, auth, body string) testkit.Response {
		t.Helper()
		return srv.Do(t, http.MethodPost, path, "", body, "Authorization", auth)
	}
	body := fmt.Sprintf(`{"_type":"location","lat":52.52,"lon":13.4,"tst":%d}`, time.Now().Add(-time.Minute).Unix())
	if res := post("/api/ingest/owntracks", basicAuth("ann", token), body); res.Status != http.StatusOK {
		t.Fatalf("first request: %d", res.Status)
	}
	// The Basic password is the bucket's key, as a Bearer token is: the same bucket.
	for _, auth := range []string{basicAuth("bob", token), "Bearer " + token} {
		res := post("/api/ingest/owntracks", auth, body)
		if retry, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.Status != http.StatusServiceUnavailable || retry < 900 {
			t.Errorf("over the limit: %d, Retry-After %q; want 503 with the limiter's wait", res.Status, res.Header.Get("Retry-After"))
		}
	}
	if res := post("/api/ingest/locations", "Bearer "+token, `{"locations":[]}`); res.Status != http.StatusTooManyRequests {
		t.Errorf("another ingest route over the limit: %d, want 429", res.Status)
	}
}

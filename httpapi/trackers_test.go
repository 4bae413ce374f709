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
)

func ptrTo[T any](v T) *T { return &v }

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

package tracking

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/errs"
)

// TestParseOsmAndAttributes: what Traccar Client 10.x (flat parameters) and
// 9.x (nested JSON) send beyond the position, reports without a fix and the
// push-token registration.
func TestParseOsmAndAttributes(t *testing.T) {
	base := "id=" + testToken + "&lat=52.52&lon=13.4&timestamp=1795812835"
	attrs := func(a Attributes) func(l *Location) { return func(l *Location) { l.Attributes = a } }
	noFix := func(token string, recorded time.Time, edit func(l *Location)) OsmAndReport {
		r := OsmAndReport{Token: token, NoFix: true, Location: Location{RecordedAt: recorded}}
		if edit != nil {
			edit(&r.Location)
		}
		return r
	}
	nested := func(location string) string {
		return `{"device_id": "` + testToken + `", "location": ` + location + `}`
	}
	const coords = `"timestamp": "2026-11-27T20:53:55Z", "coords": {"latitude": 52.52, "longitude": 13.4}`

	tests := []struct {
		name        string
		query       string
		contentType string
		body        string
		want        []OsmAndReport
	}{
		// Flat parameters.
		{name: "motion true", query: base + "&motion=true", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Motion: ptr(true)}))}},
		{name: "motion FALSE", query: base + "&motion=FALSE", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Motion: ptr(false)}))}},
		{name: "empty motion is unknown", query: base + "&motion=", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "charge true", query: base + "&charge=true", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(true)}))}},
		{name: "charge True", query: base + "&charge=True", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(true)}))}},
		{name: "charge false", query: base + "&charge=false", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(false)}))}},
		{name: "charge 1 is false, as Traccar reads it", query: base + "&charge=1", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(false)}))}},
		{name: "charge yes is false", query: base + "&charge=yes", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(false)}))}},
		{name: "empty charge is unknown", query: base + "&charge=", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "odometer", query: base + "&odometer=12345.6", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{OdometerM: ptr(12345.6)}))}},
		{name: "event and alarm", query: base + "&event=motionchange&alarm=sos", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Event: ptr("motionchange"), Alarm: ptr("sos")}))}},
		{name: "empty alarm is unknown", query: base + "&alarm=", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{
			name:        "flat JSON with booleans, as Traccar Client 10.x's JSON mode",
			contentType: "application/json",
			body:        `[{"id": "` + testToken + `", "lat": 52.52, "lon": 13.4, "timestamp": 1795812835, "batt": 87, "charge": true, "motion": false, "alarm": "sos"}]`,
			want: []OsmAndReport{at(testToken, fixTime, func(l *Location) {
				l.BatteryPct, l.Attributes = ptr(87.0), Attributes{Charging: ptr(true), Motion: ptr(false), Alarm: ptr("sos")}
			})},
		},

		// Without a fix.
		{name: "heartbeat without coordinates", query: "id=" + testToken + "&timestamp=1795812835&batt=87&charge=false",
			want: []OsmAndReport{noFix(testToken, fixTime, func(l *Location) { l.BatteryPct, l.Charging = ptr(87.0), ptr(false) })}},
		{name: "empty lat and lon", query: "id=" + testToken + "&lat=&lon=", want: []OsmAndReport{noFix(testToken, osmAndNow, nil)}},
		{name: "nothing at all", want: []OsmAndReport{noFix("", osmAndNow, nil)}},
		{
			name:        "push-token registration",
			contentType: "application/x-www-form-urlencoded",
			body:        "id=" + testToken + "&notificationToken=fcm%3AAPA91b_x-y",
			want:        []OsmAndReport{{Token: testToken, NoFix: true, PushToken: "fcm:APA91b_x-y", Location: Location{RecordedAt: osmAndNow}}},
		},
		{
			name:  "push token with a position",
			query: base + "&notificationToken=abc",
			want:  []OsmAndReport{{Token: testToken, PushToken: "abc", Location: Location{RecordedAt: fixTime, Lat: 52.52, Lon: 13.4}}},
		},

		// Nested JSON (Traccar Client 9.x).
		{
			name: "nested with every attribute and extras.alarm",
			body: nested(`{` + coords + `, "is_moving": true, "odometer": 12345.6, "event": "motionchange",
				"battery": {"level": 0.5, "is_charging": true}, "activity": {"type": "in_vehicle", "confidence": 90},
				"extras": {"alarm": "sos"}, "_": "&id=x&lat=1&lon=2&timestamp=3&"}`),
			want: []OsmAndReport{at(testToken, fixTime, func(l *Location) {
				l.BatteryPct = ptr(50.0)
				l.Attributes = Attributes{Motion: ptr(true), OdometerM: ptr(12345.6), Event: ptr("motionchange"),
					Charging: ptr(true), Activity: ptr("in_vehicle"), Alarm: ptr("sos")}
			})},
		},
		{
			name: "nested alarm wins over extras.alarm",
			body: nested(`{` + coords + `, "alarm": "sos", "extras": {"alarm": "other"}}`),
			want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Alarm: ptr("sos")}))},
		},
		{
			name: "nested empty event kept for Normalize, activity as a string, booleans as strings",
			body: nested(`{` + coords + `, "event": "", "activity": "still", "is_moving": "false", "battery": {"is_charging": "TRUE"}}`),
			want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Event: ptr(""), Activity: ptr("still"), Motion: ptr(false), Charging: ptr(true)}))},
		},
		{
			name: "nested extras without alarm, nulls",
			body: nested(`{` + coords + `, "extras": {"heartbeat": true}, "alarm": null, "odometer": null, "is_moving": null}`),
			want: []OsmAndReport{at(testToken, fixTime, nil)},
		},
		{
			name: "nested without coords",
			body: nested(`{"timestamp": "2026-11-27T20:53:55Z", "is_moving": false, "battery": {"level": 0.9}}`),
			want: []OsmAndReport{noFix(testToken, fixTime, func(l *Location) { l.BatteryPct, l.Motion = ptr(90.0), ptr(false) })},
		},
		{
			name: "nested with null coords",
			body: nested(`{"timestamp": "2026-11-27T20:53:55Z", "coords": null}`),
			want: []OsmAndReport{noFix(testToken, fixTime, nil)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseOsmAnd(query, tt.contentType, []byte(tt.body), SpeedKnots, osmAndNow)
			if err != nil {
				t.Fatalf("ParseOsmAnd() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("ParseOsmAnd() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOsmAndAttributeErrors(t *testing.T) {
	base := "id=" + testToken + "&lat=52.52&lon=13.4"
	nested := func(rest string) string {
		return `{"device_id": "` + testToken + `", "location": {"coords": {"latitude": 1, "longitude": 2}` + rest + `}}`
	}
	tests := []struct {
		name, query, body, wantField string
	}{
		{name: "motion maybe", query: base + "&motion=maybe", wantField: "motion"},
		{name: "motion 1", query: base + "&motion=1", wantField: "motion"},
		{name: "odometer far", query: base + "&odometer=far", wantField: "odometer"},
		{name: "lat without lon", query: "id=x&lat=1", wantField: "lon"},
		{name: "lon without lat", query: "id=x&lon=1", wantField: "lat"},
		{name: "flat JSON alarm an object", body: `{"lat": 1, "lon": 2, "alarm": {}}`, wantField: "alarm"},
		{name: "flat JSON motion a string", body: `{"lat": 1, "lon": 2, "motion": "moving"}`, wantField: "motion"},
		{name: "nested is_moving a number", body: nested(`, "is_moving": 1`), wantField: "location.is_moving"},
		{name: "nested odometer a word", body: nested(`, "odometer": "far"`), wantField: "location.odometer"},
		{name: "nested event a number", body: nested(`, "event": 5`), wantField: "location.event"},
		{name: "nested is_charging yes", body: nested(`, "battery": {"is_charging": "yes"}`), wantField: "location.battery.is_charging"},
		{name: "nested activity a number", body: nested(`, "activity": 7`), wantField: "location.activity"},
		{name: "nested activity type a number", body: nested(`, "activity": {"type": 7}`), wantField: "location.activity.type"},
		{name: "nested alarm a boolean", body: nested(`, "alarm": true`), wantField: "location.alarm"},
		{name: "nested extras a string", body: nested(`, "extras": "sos"`), wantField: "location.extras"},
		{name: "nested extras.alarm a number", body: nested(`, "extras": {"alarm": 1}`), wantField: "location.extras.alarm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseOsmAnd(query, "", []byte(tt.body), SpeedKnots, osmAndNow)
			var fe *errs.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, errs.Invalid) || fe.Field != tt.wantField {
				t.Fatalf("ParseOsmAnd() = %v, %v; want an *errs.FieldError for %s", got, err, tt.wantField)
			}
		})
	}
}

package tracking

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/errs"
)

const testToken = "trk_0J5M8ZQ3RT6VW9XY2ABCDEFGHJ"

// fix is 2026-11-27T20:53:55Z, the docs' example time, in Unix seconds.
const fixUnix = 1795812835

var (
	osmAndNow = time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	fixTime   = time.Date(2026, 11, 27, 20, 53, 55, 0, time.UTC)
)

// at returns a report at Berlin's Alexanderplatz with the given token and time;
// edit fills in the rest.
func at(token string, recorded time.Time, edit func(l *Location)) OsmAndReport {
	r := OsmAndReport{Token: token, Location: Location{RecordedAt: recorded, Lat: 52.52, Lon: 13.4}}
	if edit != nil {
		edit(&r.Location)
	}
	return r
}

// TestParseOsmAnd: timestamps, speed units and the other parameters, form
// and JSON bodies, the attributes Traccar Client 10.x (flat parameters) and
// 9.x (nested JSON) send beyond the position, reports without a fix and the
// push-token registration.
func TestParseOsmAnd(t *testing.T) {
	const knot = 1852.0 / 3600
	base := "id=" + testToken + "&lat=52.52&lon=13.4"
	fixed := base + "&timestamp=1795812835"
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
		query       string // raw query string
		contentType string
		body        string
		unit        SpeedUnit
		want        []OsmAndReport
	}{
		// Timestamps.
		{name: "unix seconds", query: base + "&timestamp=1795812835", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "unix milliseconds", query: base + "&timestamp=1795812835123", want: []OsmAndReport{at(testToken, fixTime.Add(123*time.Millisecond), nil)}},
		{name: "unix seconds with a fraction", query: base + "&timestamp=1795812835.5", want: []OsmAndReport{at(testToken, fixTime.Add(500*time.Millisecond), nil)}},
		{name: "rfc 3339 utc", query: base + "&timestamp=2026-11-27T20:53:55.123Z", want: []OsmAndReport{at(testToken, fixTime.Add(123*time.Millisecond), nil)}},
		{name: "rfc 3339 offset escaped", query: base + "&timestamp=2026-11-27T21:53:55%2B01:00", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "rfc 3339 offset unescaped plus", query: base + "&timestamp=2026-11-27T21:53:55+01:00", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "space separated is utc", query: base + "&timestamp=2026-11-27%2020:53:55", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "space separated with plus", query: base + "&timestamp=2026-11-27+20:53:55", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "missing timestamp is now", query: base, want: []OsmAndReport{at(testToken, osmAndNow, nil)}},
		{name: "empty timestamp is now", query: base + "&timestamp=", want: []OsmAndReport{at(testToken, osmAndNow, nil)}},

		// Speed units.
		{name: "speed in knots by default", query: base + "&timestamp=1795812835&speed=10", want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(10 * knot) })}},
		{name: "speed in kn", query: base + "&timestamp=1795812835&speed=1", unit: SpeedKnots, want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(0.514444444444) })}},
		{name: "speed in mps", query: base + "&timestamp=1795812835&speed=10", unit: SpeedMPS, want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(10.0) })}},
		{name: "speed in kmh", query: base + "&timestamp=1795812835&speed=36", unit: SpeedKMH, want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(10.0) })}},
		{name: "speed in mph", query: base + "&timestamp=1795812835&speed=10", unit: SpeedMPH, want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(4.4704) })}},
		{name: "empty speed is unknown", query: base + "&timestamp=1795812835&speed=", want: []OsmAndReport{at(testToken, fixTime, nil)}},

		// Other parameters.
		{name: "bearing", query: base + "&timestamp=1795812835&bearing=90", want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.CourseDeg = ptr(90.0) })}},
		{name: "heading", query: base + "&timestamp=1795812835&heading=180", want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.CourseDeg = ptr(180.0) })}},
		{name: "bearing wins over heading", query: base + "&timestamp=1795812835&heading=180&bearing=90", want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.CourseDeg = ptr(90.0) })}},
		{
			name:  "altitude accuracy batt",
			query: base + "&timestamp=1795812835&altitude=41.2&accuracy=4.8&batt=87",
			want: []OsmAndReport{at(testToken, fixTime, func(l *Location) {
				l.AltitudeM, l.AccuracyM, l.BatteryPct = ptr(41.2), ptr(4.8), ptr(87.0)
			})},
		},
		{name: "negative batt is unknown", query: base + "&timestamp=1795812835&batt=-1", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "deviceid", query: "deviceid=" + testToken + "&lat=52.52&lon=13.4&timestamp=1795812835", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "no token left empty", query: "lat=52.52&lon=13.4&timestamp=1795812835", want: []OsmAndReport{at("", fixTime, nil)}},
		{name: "repeated parameter: last wins", query: base + "&lat=10&timestamp=1795812835", want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.Lat = 10 })}},
		{name: "unknown parameters ignored", query: base + "&timestamp=1795812835&hdop=1.2&valid=true&driverUniqueId=x&cell=1,2,3,4", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "spaces around numbers", query: base + "&timestamp=%201795812835%20&speed=%200%20", want: []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(0.0) })}},
		{name: "values passed through for Normalize", query: "lat=0&lon=0&timestamp=1795812835&accuracy=-1&bearing=-1", want: []OsmAndReport{at("", fixTime, func(l *Location) { l.Lat, l.Lon, l.AccuracyM, l.CourseDeg = 0, 0, ptr(-1.0), ptr(-1.0) })}},

		// Form bodies.
		{
			name:        "form body merged with query, body wins",
			query:       "id=" + testToken + "&lat=1",
			contentType: "application/x-www-form-urlencoded",
			body:        "lat=52.52&lon=13.4&timestamp=1795812835&speed=0",
			want:        []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.SpeedMPS = ptr(0.0) })},
		},
		{
			name:        "form body with charset and trailing newline",
			contentType: "application/x-www-form-urlencoded; charset=UTF-8",
			body:        base + "&timestamp=1795812835\r\n",
			want:        []OsmAndReport{at(testToken, fixTime, nil)},
		},
		{
			name:        "form body token wins over the query's",
			query:       "id=trk_QUERY",
			contentType: "application/x-www-form-urlencoded",
			body:        "deviceid=" + testToken + "&lat=52.52&lon=13.4&timestamp=1795812835",
			want:        []OsmAndReport{at(testToken, fixTime, nil)},
		},
		{name: "form body sniffed without content type", body: base + "&timestamp=1795812835", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "blank body uses the query", query: base + "&timestamp=1795812835", contentType: "application/json", body: " \n", want: []OsmAndReport{at(testToken, fixTime, nil)}},

		// JSON bodies.
		{
			name:        "json array of flat objects",
			query:       "id=" + testToken,
			contentType: "application/json",
			body: `[{"lat": 52.52, "lon": 13.4, "timestamp": 1795812835, "speed": 10, "bearing": 90},
			        {"lat": "52.52", "lon": "13.4", "timestamp": "2026-11-27T20:53:56Z", "batt": "50", "extra": {"x": 1}},
			        {"deviceid": "trk_OTHER", "lat": 52.52, "lon": 13.4, "timestamp": 1795812837000, "altitude": null}]`,
			want: []OsmAndReport{
				at(testToken, fixTime, func(l *Location) { l.SpeedMPS, l.CourseDeg = ptr(10*knot), ptr(90.0) }),
				at(testToken, fixTime.Add(time.Second), func(l *Location) { l.BatteryPct = ptr(50.0) }),
				// A token in the body wins over the query's, whatever its name.
				at("trk_OTHER", fixTime.Add(2*time.Second), nil),
			},
		},
		{
			name:  "json array sniffed, token per element",
			body:  `[{"id": "` + testToken + `", "lat": 52.52, "lon": 13.4, "timestamp": 1795812835}]`,
			want:  []OsmAndReport{at(testToken, fixTime, nil)},
			query: "",
		},
		{
			name:        "flat json object",
			contentType: "application/json; charset=utf-8",
			body:        `{"id": "` + testToken + `", "lat": 52.52, "lon": 13.4, "timestamp": "2026-11-27 20:53:55", "heading": 271.5, "accuracy": 4.8}`,
			want:        []OsmAndReport{at(testToken, fixTime, func(l *Location) { l.CourseDeg, l.AccuracyM = ptr(271.5), ptr(4.8) })},
		},
		{
			name:        "nested traccar client object",
			contentType: "application/json",
			unit:        SpeedKMH, // ignored: nested speed is m/s
			body: `{"device_id": "` + testToken + `", "location": {"timestamp": "2026-11-27T20:53:55.123Z",
			        "coords": {"latitude": 52.52, "longitude": 13.4, "speed": 1.39, "heading": 271.5, "altitude": 41.2, "accuracy": 4.8},
			        "battery": {"level": 0.87, "is_charging": false}, "is_moving": true, "odometer": 0}}`,
			want: []OsmAndReport{at(testToken, fixTime.Add(123*time.Millisecond), func(l *Location) {
				l.SpeedMPS, l.CourseDeg, l.AltitudeM, l.AccuracyM, l.BatteryPct = ptr(1.39), ptr(271.5), ptr(41.2), ptr(4.8), ptr(87.0)
				l.Motion, l.OdometerM, l.Charging = ptr(true), ptr(0.0), ptr(false)
			})},
		},
		{
			name: "nested with unknowns and string numbers",
			body: `{"device_id": "` + testToken + `", "location": {"timestamp": "2026-11-27T20:53:55Z",
			        "coords": {"latitude": "52.52", "longitude": "13.4", "speed": -1, "heading": -1, "accuracy": -1, "altitude": null},
			        "battery": {"level": -1}}}`,
			want: []OsmAndReport{at(testToken, fixTime, func(l *Location) {
				l.SpeedMPS, l.CourseDeg, l.AccuracyM = ptr(-1.0), ptr(-1.0), ptr(-1.0)
			})},
		},
		{
			name:  "nested without device_id takes the query token, no timestamp is now",
			query: "id=" + testToken,
			body:  `{"location": {"coords": {"latitude": 52.52, "longitude": 13.4}}}`,
			want:  []OsmAndReport{at(testToken, osmAndNow, nil)},
		},
		{
			name: "nested with a location array",
			body: `{"device_id": "` + testToken + `", "location": [
			        {"timestamp": "2026-11-27T20:53:55Z", "coords": {"latitude": 52.52, "longitude": 13.4}},
			        {"timestamp": "2026-11-27T20:53:56Z", "coords": {"latitude": 52.52, "longitude": 13.4}, "battery": {"level": 1}}]}`,
			want: []OsmAndReport{
				at(testToken, fixTime, nil),
				at(testToken, fixTime.Add(time.Second), func(l *Location) { l.BatteryPct = ptr(100.0) }),
			},
		},

		// Attributes in flat parameters (Traccar Client 10.x).
		{name: "motion true", query: fixed + "&motion=true", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Motion: ptr(true)}))}},
		{name: "motion FALSE", query: fixed + "&motion=FALSE", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Motion: ptr(false)}))}},
		{name: "empty motion is unknown", query: fixed + "&motion=", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "charge true", query: fixed + "&charge=true", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(true)}))}},
		{name: "charge True", query: fixed + "&charge=True", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(true)}))}},
		{name: "charge false", query: fixed + "&charge=false", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(false)}))}},
		{name: "charge 1 is false, as Traccar reads it", query: fixed + "&charge=1", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(false)}))}},
		{name: "charge yes is false", query: fixed + "&charge=yes", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Charging: ptr(false)}))}},
		{name: "empty charge is unknown", query: fixed + "&charge=", want: []OsmAndReport{at(testToken, fixTime, nil)}},
		{name: "odometer", query: fixed + "&odometer=12345.6", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{OdometerM: ptr(12345.6)}))}},
		{name: "event and alarm", query: fixed + "&event=motionchange&alarm=sos", want: []OsmAndReport{at(testToken, fixTime, attrs(Attributes{Event: ptr("motionchange"), Alarm: ptr("sos")}))}},
		{name: "empty alarm is unknown", query: fixed + "&alarm=", want: []OsmAndReport{at(testToken, fixTime, nil)}},
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
			query: fixed + "&notificationToken=abc",
			want:  []OsmAndReport{{Token: testToken, PushToken: "abc", Location: Location{RecordedAt: fixTime, Lat: 52.52, Lon: 13.4}}},
		},

		// Attributes in nested JSON (Traccar Client 9.x).
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
				t.Fatalf("bad test query: %v", err)
			}
			got, err := ParseOsmAnd(query, tt.contentType, []byte(tt.body), tt.unit, osmAndNow)
			if err != nil {
				t.Fatalf("ParseOsmAnd() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("ParseOsmAnd() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOsmAndErrors(t *testing.T) {
	base := "id=" + testToken + "&lat=52.52&lon=13.4"
	nested := func(location string) string {
		return `{"device_id": "` + testToken + `", "location": ` + location + `}`
	}
	withCoords := func(rest string) string {
		return nested(`{"coords": {"latitude": 1, "longitude": 2}` + rest + `}`)
	}
	var tooMany strings.Builder
	tooMany.WriteString("[")
	for i := range maxOsmAndReports + 1 {
		if i > 0 {
			tooMany.WriteString(",")
		}
		tooMany.WriteString(`{"lat": 1, "lon": 1}`)
	}
	tooMany.WriteString("]")

	tests := []struct {
		name        string
		query       string
		contentType string
		body        string
		wantField   string
	}{
		{name: "missing lat", query: "id=x&lon=13.4", wantField: "lat"},
		{name: "missing lon", query: "id=x&lat=52.52", wantField: "lon"},
		{name: "empty lat", query: "id=x&lat=&lon=13.4", wantField: "lat"},
		{name: "malformed lat", query: "lat=52,52&lon=13.4", wantField: "lat"},
		{name: "malformed lon", query: "lat=52.52&lon=east", wantField: "lon"},
		{name: "malformed speed", query: base + "&speed=fast", wantField: "speed"},
		{name: "malformed bearing", query: base + "&bearing=north", wantField: "bearing"},
		{name: "malformed heading", query: base + "&heading=north", wantField: "heading"},
		{name: "malformed altitude", query: base + "&altitude=high", wantField: "altitude"},
		{name: "malformed accuracy", query: base + "&accuracy=good", wantField: "accuracy"},
		{name: "malformed batt", query: base + "&batt=full", wantField: "batt"},
		{name: "number out of float range", query: base + "&altitude=1e400", wantField: "altitude"},
		{name: "word timestamp", query: base + "&timestamp=yesterday", wantField: "timestamp"},
		{name: "impossible rfc 3339", query: base + "&timestamp=2026-11-27T25:00:00Z", wantField: "timestamp"},
		{name: "rfc 3339 without zone", query: base + "&timestamp=2026-11-27T20:53:55", wantField: "timestamp"},
		{name: "date only", query: base + "&timestamp=2026-11-27", wantField: "timestamp"},
		{name: "infinite timestamp", query: base + "&timestamp=Inf", wantField: "timestamp"},
		{name: "huge timestamp", query: base + "&timestamp=1e30", wantField: "timestamp"},
		{name: "malformed form body", contentType: "application/x-www-form-urlencoded", body: "lat=%zz", wantField: "body"},
		{name: "malformed json", contentType: "application/json", body: `{"lat": 1`, wantField: "body"},
		{name: "json with trailing data", contentType: "application/json", body: `{"lat": 1, "lon": 1} {}`, wantField: "body"},
		{name: "json scalar", contentType: "application/json", body: `42`, wantField: "body"},
		{name: "empty json array", body: `[]`, wantField: "body"},
		{name: "too many reports", body: tooMany.String(), wantField: "body"},
		{name: "array element not an object", body: `[{"lat": 1, "lon": 1}, 7]`, wantField: "[1]"},
		{name: "array element bad lat", body: `[{"lat": 1, "lon": 1}, {"lat": "x", "lon": 1}]`, wantField: "[1].lat"},
		{name: "array element missing lon", body: `[{"lat": 1}]`, wantField: "[0].lon"},
		{name: "array element bad bearing", body: `[{"lat": 1, "lon": 1, "bearing": "north"}]`, wantField: "[0].bearing"},
		{name: "array element bad batt", body: `[{"lat": 1, "lon": 1}, {"lat": 1, "lon": 1, "batt": "full"}]`, wantField: "[1].batt"},
		{name: "json boolean lat", body: `{"lat": true, "lon": 1}`, wantField: "lat"},
		{name: "json object id", body: `{"id": {}, "lat": 1, "lon": 1}`, wantField: "id"},
		{name: "nested empty coords", body: nested(`{"timestamp": "2026-11-27T20:53:55Z", "coords": {}}`), wantField: "location.coords.latitude"},
		{name: "nested missing longitude", body: nested(`{"coords": {"latitude": 1}}`), wantField: "location.coords.longitude"},
		{name: "nested coords not an object", body: nested(`{"coords": [1, 2]}`), wantField: "location.coords"},
		{name: "nested malformed latitude", body: nested(`{"coords": {"latitude": "x", "longitude": 1}}`), wantField: "location.coords.latitude"},
		{name: "nested boolean speed", body: nested(`{"coords": {"latitude": 1, "longitude": 1, "speed": true}}`), wantField: "location.coords.speed"},
		{name: "nested bad timestamp", body: nested(`{"timestamp": "soon", "coords": {"latitude": 1, "longitude": 1}}`), wantField: "location.timestamp"},
		{name: "nested battery not an object", body: nested(`{"coords": {"latitude": 1, "longitude": 1}, "battery": 0.5}`), wantField: "location.battery"},
		{name: "nested malformed battery level", body: nested(`{"coords": {"latitude": 1, "longitude": 1}, "battery": {"level": "half"}}`), wantField: "location.battery.level"},
		{name: "nested device_id not a string", body: `{"device_id": [], "location": {}}`, wantField: "device_id"},
		{name: "nested empty location array", body: nested(`[]`), wantField: "location"},
		{name: "nested location array element", body: nested(`[{"coords": {"latitude": 1, "longitude": 1}}, null]`), wantField: "location[1]"},
		{name: "nested in an array", body: `[{"device_id": "x", "location": {"coords": {"latitude": 1}}}]`, wantField: "[0].location.coords.longitude"},

		// Attributes.
		{name: "motion maybe", query: base + "&motion=maybe", wantField: "motion"},
		{name: "motion 1", query: base + "&motion=1", wantField: "motion"},
		{name: "odometer far", query: base + "&odometer=far", wantField: "odometer"},
		{name: "lat without lon", query: "id=x&lat=1", wantField: "lon"},
		{name: "lon without lat", query: "id=x&lon=1", wantField: "lat"},
		{name: "flat JSON alarm an object", body: `{"lat": 1, "lon": 2, "alarm": {}}`, wantField: "alarm"},
		{name: "flat JSON motion a string", body: `{"lat": 1, "lon": 2, "motion": "moving"}`, wantField: "motion"},
		{name: "nested is_moving a number", body: withCoords(`, "is_moving": 1`), wantField: "location.is_moving"},
		{name: "nested odometer a word", body: withCoords(`, "odometer": "far"`), wantField: "location.odometer"},
		{name: "nested event a number", body: withCoords(`, "event": 5`), wantField: "location.event"},
		{name: "nested is_charging yes", body: withCoords(`, "battery": {"is_charging": "yes"}`), wantField: "location.battery.is_charging"},
		{name: "nested activity a number", body: withCoords(`, "activity": 7`), wantField: "location.activity"},
		{name: "nested activity type a number", body: withCoords(`, "activity": {"type": 7}`), wantField: "location.activity.type"},
		{name: "nested alarm a boolean", body: withCoords(`, "alarm": true`), wantField: "location.alarm"},
		{name: "nested extras a string", body: withCoords(`, "extras": "sos"`), wantField: "location.extras"},
		{name: "nested extras.alarm a number", body: withCoords(`, "extras": {"alarm": 1}`), wantField: "location.extras.alarm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("bad test query: %v", err)
			}
			got, err := ParseOsmAnd(query, tt.contentType, []byte(tt.body), SpeedKnots, osmAndNow)
			var fe *errs.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, errs.Invalid) {
				t.Fatalf("ParseOsmAnd() = %v, %v; want a *errs.FieldError", got, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("ParseOsmAnd() error field = %q, want %q (error %q)", fe.Field, tt.wantField, err)
			}
			if got != nil {
				t.Errorf("ParseOsmAnd() reports = %v, want nil on error", got)
			}
		})
	}
}

// The token is a secret: an error must not echo it, even from a bad field.
func TestParseOsmAndErrorsDoNotEchoValues(t *testing.T) {
	q := url.Values{"id": {testToken}, "lat": {testToken}, "lon": {"1"}}
	_, err := ParseOsmAnd(q, "", nil, SpeedKnots, osmAndNow)
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("ParseOsmAnd() error = %v, want an error without the token", err)
	}
}

func TestParseOsmAndUnknownSpeedUnit(t *testing.T) {
	q := url.Values{"lat": {"1"}, "lon": {"1"}}
	_, err := ParseOsmAnd(q, "", nil, SpeedUnit("furlong/fortnight"), osmAndNow)
	if err == nil || errors.Is(err, errs.Invalid) {
		t.Errorf("ParseOsmAnd() error = %v, want a non-errs.Invalid error (a bug, not bad input)", err)
	}
}

func TestParseSpeedUnit(t *testing.T) {
	tests := []struct {
		in      string
		want    SpeedUnit
		wantErr bool
	}{
		{in: "", want: SpeedKnots},
		{in: "kn", want: SpeedKnots},
		{in: "mps", want: SpeedMPS},
		{in: "kmh", want: SpeedKMH},
		{in: " MPH ", want: SpeedMPH},
		{in: "knots", wantErr: true},
		{in: "km/h", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := ParseSpeedUnit(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errs.Invalid) {
					t.Errorf("ParseSpeedUnit(%q) = %q, %v; want an error wrapping errs.Invalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseSpeedUnit(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseOsmAnd(f *testing.F) {
	f.Add("id=trk_X&lat=52.52&lon=13.4&timestamp=1795812835&speed=10&bearing=90", "", []byte(nil))
	f.Add("id=trk_X", "application/x-www-form-urlencoded", []byte("lat=1&lon=2&timestamp=2026-11-27+20:53:55"))
	f.Add("", "application/json", []byte(`[{"id":"x","lat":"1","lon":2,"timestamp":1795812835123}]`))
	f.Add("", "application/json", []byte(`{"device_id":"x","location":{"timestamp":"2026-11-27T20:53:55Z","coords":{"latitude":1,"longitude":2,"speed":-1},"battery":{"level":0.5}}}`))
	f.Add("", "", []byte(`{"location":[{"coords":{"latitude":1,"longitude":2}}]}`))
	f.Add("lat=1&lon=1&timestamp=-9223372036854775808", "text/plain", []byte("%"))
	f.Fuzz(func(t *testing.T, rawQuery, contentType string, body []byte) {
		query, _ := url.ParseQuery(rawQuery) // keeps what parsed
		reports, err := ParseOsmAnd(query, contentType, body, SpeedKnots, osmAndNow)
		if err != nil {
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("ParseOsmAnd() error = %v, want it to wrap errs.Invalid", err)
			}
			return
		}
		if len(reports) == 0 {
			t.Fatal("ParseOsmAnd() returned no reports and no error")
		}
		for _, r := range reports {
			l := r.Location
			_ = l.Normalize(osmAndNow, Limits{}) // must not panic on anything parsed
		}
	})
}

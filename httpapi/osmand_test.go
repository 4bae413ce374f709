package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

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

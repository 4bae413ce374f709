package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestIngestAttributesHTTP: the batch route takes motion … alarm, applies
// their rules point by point, and every read shows them.
func TestIngestAttributesHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		now := time.Now().UTC().Truncate(time.Second)
		pt := func(i int, attrs string) string {
			return fmt.Sprintf(`{"recorded_at":%q,"lat":52.52,"lon":13.4%s}`, rfc3339(now.Add(time.Duration(i-100)*time.Minute)), attrs)
		}

		tests := []struct {
			name   string
			attrs  string
			reject string // the rejection, "" when stored
			want   storedPoint
		}{
			{name: "every attribute", attrs: `,"motion":true,"odometer_m":12345.6,"charging":false,"activity":"on_foot","event":"motionchange","alarm":"sos"`,
				want: storedPoint{Motion: ptrTo(true), OdometerM: f64(12345.6), Charging: ptrTo(false), Activity: ptrTo("on_foot"), Event: ptrTo("motionchange"), Alarm: ptrTo("sos")}},
			{name: "nulls", attrs: `,"motion":null,"odometer_m":null,"charging":null,"activity":null,"event":null,"alarm":null`},
			{name: "texts trimmed, blank is null", attrs: `,"alarm":" sos ","event":"   ","activity":""`, want: storedPoint{Alarm: ptrTo("sos")}},
			{name: "32 characters", attrs: `,"event":"` + strings.Repeat("e", 32) + `"`, want: storedPoint{Event: ptrTo(strings.Repeat("e", 32))}},
			{name: "HTML and quotes kept", attrs: `,"event":"<a href=\"x\">&"`, want: storedPoint{Event: ptrTo(`<a href="x">&`)}},
			{name: "odometer 0", attrs: `,"odometer_m":0`, want: storedPoint{OdometerM: f64(0)}},
			{name: "motion a string", attrs: `,"motion":"yes"`, reject: "motion: must be true or false"},
			{name: "charging a number", attrs: `,"charging":1`, reject: "charging: must be true or false"},
			{name: "odometer a string", attrs: `,"odometer_m":"12"`, reject: "odometer_m: must be a number"},
			{name: "odometer negative", attrs: `,"odometer_m":-1`, reject: "odometer_m: must be between 0 and 10000000000"},
			{name: "odometer too far", attrs: `,"odometer_m":1e11`, reject: "odometer_m: must be between 0 and 10000000000"},
			{name: "event 33 characters", attrs: `,"event":"` + strings.Repeat("e", 33) + `"`, reject: "event: must be at most 32 characters"},
			{name: "alarm with a control character", attrs: `,"alarm":"s\u0007s"`, reject: "alarm: must not contain control characters"},
			{name: "activity a number", attrs: `,"activity":5`, reject: "activity: must be a string"},
			{name: "alarm a lone surrogate", attrs: `,"alarm":"\ud800"`, reject: "alarm: must be valid UTF-8"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d, token := s.createDevice(t, ann, tt.name)
				res := s.ingest(t, token, point(now.Add(-3*time.Hour), 0), pt(i, tt.attrs))
				if tt.reject != "" {
					if res.Stored != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || res.Rejected[0].Error != tt.reject {
						t.Errorf("ingest = %+v, want point 1 rejected with %q", res, tt.reject)
					}
					return
				}
				if res.Stored != 2 || len(res.Rejected) != 0 {
					t.Fatalf("ingest = %+v, want both stored", res)
				}
				want := tt.want
				want.RecordedAt, want.Lat, want.Lon = now.Add(time.Duration(i-100)*time.Minute), 52.52, 13.4
				points := s.routePoints(t, ann, d.ID)
				if diff := cmp.Diff(want, points[len(points)-1]); diff != "" {
					t.Errorf("route point (-want +got):\n%s", diff)
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
				if diff := cmp.Diff(want, latest.Location); diff != "" {
					t.Errorf("latest (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(want, last); diff != "" {
					t.Errorf("last_location (-want +got):\n%s", diff)
				}
			})
		}
	})
}

package tracking

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/errs"
)

func TestParseOwnTracks(t *testing.T) {
	const kmh = 1000.0 / 3600
	tests := []struct {
		name     string
		body     string
		wantType string
		want     *Location // the point; nil for none
		reject   string    // the field of Rejected; "" for none
	}{
		{
			name: "location with every field",
			body: `{"_type":"location","lat":52.520008,"lon":13.404954,"tst":1795812835,"acc":5,"alt":41,"vel":18,"cog":271,
				"batt":87,"bs":2,"t":"u","tid":"ab","conn":"w","topic":"owntracks/ann/phone","created_at":1795812836,"_id":"e1a2"}`,
			wantType: "location",
			want: &Location{RecordedAt: fixTime, Lat: 52.520008, Lon: 13.404954, AccuracyM: ptr(5.0), AltitudeM: ptr(41.0),
				SpeedMPS: ptr(18 * kmh), CourseDeg: ptr(271.0), BatteryPct: ptr(87.0),
				Attributes: Attributes{Charging: ptr(true), Event: ptr("u")}},
		},
		{
			name:     "zeros left out are unknown, a fractional tst",
			body:     `{"_type":"location","lat":52.52,"lon":13.4,"tst":1795812835.25,"tid":"ab"}`,
			wantType: "location",
			want:     &Location{RecordedAt: fixTime.Add(250 * time.Millisecond), Lat: 52.52, Lon: 13.4},
		},
		{name: "bs 0 is unknown", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"bs":0}`, wantType: "location",
			want: &Location{RecordedAt: fixTime, Lat: 1, Lon: 2}},
		{name: "bs 1 is not charging", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"bs":1}`, wantType: "location",
			want: &Location{RecordedAt: fixTime, Lat: 1, Lon: 2, Attributes: Attributes{Charging: ptr(false)}}},
		{name: "bs 3 (full) is charging", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"bs":3}`, wantType: "location",
			want: &Location{RecordedAt: fixTime, Lat: 1, Lon: 2, Attributes: Attributes{Charging: ptr(true)}}},
		{name: "nulls are unknown", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"vel":null,"bs":null,"t":null}`, wantType: "location",
			want: &Location{RecordedAt: fixTime, Lat: 1, Lon: 2}},

		{name: "empty body", body: ``},
		{name: "blank body", body: " \r\n"},
		{name: "transition", body: `{"_type":"transition","wtst":1795800000,"lat":52.52,"lon":13.4,"tst":1795812835,"acc":10,"event":"enter","desc":"Home","t":"c"}`, wantType: "transition"},
		{name: "waypoint", body: `{"_type":"waypoint","desc":"Home","lat":52.52,"lon":13.4,"rad":100,"tst":1795800000,"rid":"6da9cf"}`, wantType: "waypoint"},
		{name: "status", body: `{"_type":"status","android":{"hib":1,"bo":1,"loc":0}}`, wantType: "status"},
		{name: "encrypted", body: `{"_type":"encrypted","data":"c2VjcmV0"}`, wantType: "encrypted"},
		{name: "no _type", body: `{"lat":1,"lon":2,"tst":1795812835}`},
		{name: "_type not a string", body: `{"_type":5,"lat":1,"lon":2,"tst":1795812835}`},

		{name: "location without lat", body: `{"_type":"location","lon":2,"tst":1795812835}`, wantType: "location", reject: "lat"},
		{name: "location without lon", body: `{"_type":"location","lat":1,"tst":1795812835}`, wantType: "location", reject: "lon"},
		{name: "location without tst", body: `{"_type":"location","lat":1,"lon":2}`, wantType: "location", reject: "tst"},
		{name: "tst in milliseconds", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835000}`, wantType: "location", reject: "tst"},
		{name: "lat a string", body: `{"_type":"location","lat":"52.5","lon":2,"tst":1795812835}`, wantType: "location", reject: "lat"},
		{name: "vel a boolean", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"vel":true}`, wantType: "location", reject: "vel"},
		{name: "acc beyond float64", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"acc":1e400}`, wantType: "location", reject: "acc"},
		{name: "bs 4", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"bs":4}`, wantType: "location", reject: "bs"},
		{name: "t a number", body: `{"_type":"location","lat":1,"lon":2,"tst":1795812835,"t":1}`, wantType: "location", reject: "t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOwnTracks([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseOwnTracks() error = %v", err)
			}
			if got.Type != tt.wantType {
				t.Errorf("Type = %q, want %q", got.Type, tt.wantType)
			}
			if diff := cmp.Diff(tt.want, got.Location, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("Location (-want +got):\n%s", diff)
			}
			var fe *errs.FieldError
			switch {
			case tt.reject == "" && got.Rejected != nil:
				t.Errorf("Rejected = %v, want nil", got.Rejected)
			case tt.reject != "" && (!errors.As(got.Rejected, &fe) || fe.Field != tt.reject || !errors.Is(got.Rejected, errs.Invalid)):
				t.Errorf("Rejected = %v, want an *errs.FieldError for %s", got.Rejected, tt.reject)
			}
		})
	}
}

func TestParseOwnTracksRefusesWhatIsNotAnObject(t *testing.T) {
	for _, body := range []string{`{"_type":"location"`, `[]`, `[{"_type":"location"}]`, `"location"`, `null`, `42`, `{"_type":"status"} {}`} {
		_, err := ParseOwnTracks([]byte(body))
		var fe *errs.FieldError
		if !errors.As(err, &fe) || fe.Field != "body" || !errors.Is(err, errs.Invalid) {
			t.Errorf("ParseOwnTracks(%q) error = %v, want an *errs.FieldError for body", body, err)
		}
	}
}

func FuzzParseOwnTracks(f *testing.F) {
	f.Add([]byte(`{"_type":"location","lat":52.52,"lon":13.4,"tst":1795812835,"vel":18,"bs":2,"t":"u"}`))
	f.Add([]byte(`{"_type":"transition","event":"enter"}`))
	f.Add([]byte(`{"_type":"location","tst":-1e300}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := ParseOwnTracks(body)
		if err != nil {
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("error %v does not wrap errs.Invalid", err)
			}
			return
		}
		if msg.Location != nil && (msg.Type != "location" || msg.Rejected != nil) {
			t.Fatalf("a point from a %q message, rejected %v", msg.Type, msg.Rejected)
		}
		if msg.Location != nil {
			_ = msg.Location.Normalize(osmAndNow, Limits{}) // must not panic
		}
	})
}

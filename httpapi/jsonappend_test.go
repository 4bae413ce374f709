package httpapi

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/usersync/usersync/jsontime"
)

var tricky = []float64{0, math.Copysign(0, -1), 1, -1, 52.520008, 13.404954, 1e-6, 9.99999e-7, 1e-7, 1e20, 1e21, 1.5e21,
	-1e-9, 123456789012345678, 0.1, 1.0 / 3, math.MaxFloat64, math.SmallestNonzeroFloat64, 4.8, 41.2, 87, 359.99,
	math.NaN(), math.Inf(1), math.Inf(-1)}

func TestAppendRoutePointMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{
		time.Date(2026, 11, 27, 20, 53, 55, 123000000, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 27, 20, 53, 55, 0, time.FixedZone("CET", 3600)), time.UnixMilli(1795821821845).UTC(),
	}
	for i := 0; i < 20000; i++ {
		pick := func() float64 {
			if rng.IntN(3) == 0 {
				return tricky[rng.IntN(len(tricky))]
			}
			return (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(40)-20))
		}
		opt := func() *float64 {
			if rng.IntN(4) == 0 {
				return nil
			}
			v := pick()
			return &v
		}
		flag := func() *bool {
			if rng.IntN(3) == 0 {
				return nil
			}
			v := rng.IntN(2) == 0
			return &v
		}
		text := func() *string {
			if rng.IntN(3) == 0 {
				return nil
			}
			return &trickyText[rng.IntN(len(trickyText))]
		}
		l := locationJSON{RecordedAt: jsontime.Of(times[rng.IntN(len(times))]), Lat: pick(), Lon: pick(),
			readingsJSON: readingsJSON[*string]{
				AccuracyM: opt(), AltitudeM: opt(), SpeedMPS: opt(), CourseDeg: opt(), BatteryPct: opt(),
				Motion: flag(), OdometerM: opt(), Charging: flag(), Activity: text(), Event: text(), Alarm: text(),
			}}
		matchMarshal(t, &l)
		matchPosition(t, [2]float64{pick(), pick()})
	}
}

// trickyText are attribute values that encoding/json escapes, and some it does not.
var trickyText = []string{"", "sos", "in_vehicle", `a"b`, `a\b`, "<b>", "a&b", "Büro", "\x00", "tab\there",
	"\xff\xfe", "\u2028", "\u2029", "\U0001F6A8", "~", "\x7f"}

func FuzzAppendRoutePoint(f *testing.F) {
	f.Add(int64(1795821821845), 52.52, 13.4, 4.8, true, "sos")
	f.Add(int64(-62135596800000), 1e-7, 1e21, math.NaN(), false, "<\xff>")
	f.Fuzz(func(t *testing.T, ms int64, lat, lon, v float64, set bool, text string) {
		l := locationJSON{RecordedAt: jsontime.Of(time.UnixMilli(ms).UTC()), Lat: lat, Lon: lon}
		if set {
			l.AccuracyM, l.CourseDeg, l.OdometerM = &v, &lat, &lon
			l.Motion, l.Event = &set, &text
		}
		matchMarshal(t, &l)
		matchPosition(t, [2]float64{lon, v})
	})
}

// matchMarshal: when appendRoutePoint answers, it wrote json.Marshal's
// bytes; it declines (the caller then uses json.Marshal) only a value
// json.Marshal refuses or a time not in UTC, which route points never hold.
func matchMarshal(t *testing.T, l *locationJSON) {
	t.Helper()
	want, wantErr := json.Marshal(l)
	got, ok := appendRoutePoint(nil, l)
	_, offset := l.RecordedAt.Zone()
	switch {
	case ok && (wantErr != nil || string(got) != string(want)):
		t.Fatalf("%+v:\nappendRoutePoint %s\njson.Marshal     %s, %v", *l, got, want, wantErr)
	case !ok && wantErr == nil && offset == 0:
		t.Fatalf("%+v: appendRoutePoint declined what json.Marshal writes: %s", *l, want)
	}
}

func matchPosition(t *testing.T, p [2]float64) {
	t.Helper()
	want, wantErr := json.Marshal(p)
	got, ok := appendPosition(nil, p)
	if (wantErr == nil) != ok || ok && string(got) != string(want) {
		t.Fatalf("%v: appendPosition %s, %v; json.Marshal %s, %v", p, got, ok, want, wantErr)
	}
}

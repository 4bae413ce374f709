package tracking

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/errs"
)

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	berlin := time.FixedZone("CET", 3600)
	valid := func() Location {
		return Location{
			RecordedAt: now.Add(-time.Hour),
			Lat:        52.520008, Lon: 13.404954,
			AccuracyM: ptr(4.8), AltitudeM: ptr(41.2), SpeedMPS: ptr(1.39),
			CourseDeg: ptr(271.5), BatteryPct: ptr(87.0),
			Attributes: Attributes{
				Motion: ptr(true), OdometerM: ptr(12345.6), Charging: ptr(false),
				Activity: ptr("walking"), Event: ptr("motionchange"), Alarm: ptr("sos"),
			},
		}
	}
	nan, inf := math.NaN(), math.Inf(1)
	max32 := strings.Repeat("é", MaxAttributeLen) // 32 characters, 64 bytes

	tests := []struct {
		name      string
		edit      func(l *Location) // applied to valid()
		lim       Limits            // zero: defaults
		want      func(l *Location) // applied to valid() to get the result; nil: unchanged
		wantField string            // non-empty: Normalize must fail naming it
		wantMsg   string            // non-empty: and with this message
	}{
		{name: "valid point unchanged"},
		{
			name: "recorded_at to UTC, truncated to ms",
			edit: func(l *Location) { l.RecordedAt = time.Date(2026, 11, 27, 20, 53, 55, 123_999_999, berlin) },
			want: func(l *Location) { l.RecordedAt = time.Date(2026, 11, 27, 19, 53, 55, 123_000_000, time.UTC) },
		},
		{
			name: "received_at to UTC, truncated to ms",
			edit: func(l *Location) { l.ReceivedAt = time.Date(2026, 11, 27, 21, 53, 57, 12_345_678, berlin) },
			want: func(l *Location) { l.ReceivedAt = time.Date(2026, 11, 27, 20, 53, 57, 12_000_000, time.UTC) },
		},
		{
			name: "exactly 10 minutes ahead accepted",
			edit: func(l *Location) { l.RecordedAt = now.Add(10 * time.Minute) },
			want: func(l *Location) { l.RecordedAt = now.Add(10 * time.Minute) },
		},
		{
			name:      "over 10 minutes ahead rejected",
			edit:      func(l *Location) { l.RecordedAt = now.Add(10*time.Minute + time.Millisecond) },
			wantField: "recorded_at", wantMsg: "recorded_at: must not be more than 10 minutes in the future",
		},
		{
			name: "custom MaxFuture",
			edit: func(l *Location) { l.RecordedAt = now.Add(2 * time.Minute) }, lim: Limits{MaxFuture: time.Minute},
			wantField: "recorded_at",
		},
		{
			name: "exactly 365 days old accepted",
			edit: func(l *Location) { l.RecordedAt = now.Add(-DefaultMaxAge) },
			want: func(l *Location) { l.RecordedAt = now.Add(-DefaultMaxAge) },
		},
		{
			name:      "older than 365 days rejected",
			edit:      func(l *Location) { l.RecordedAt = now.Add(-DefaultMaxAge - time.Millisecond) },
			wantField: "recorded_at",
		},
		{
			name: "custom MaxAge",
			edit: func(l *Location) { l.RecordedAt = now.Add(-800 * time.Hour) }, lim: Limits{MaxAge: 744 * time.Hour},
			wantField: "recorded_at", wantMsg: "recorded_at: must not be older than 31 days",
		},
		{name: "zero recorded_at rejected", edit: func(l *Location) { l.RecordedAt = time.Time{} }, wantField: "recorded_at"},

		{name: "lat 90", edit: func(l *Location) { l.Lat = 90 }, want: func(l *Location) { l.Lat = 90 }},
		{name: "lat -90", edit: func(l *Location) { l.Lat = -90 }, want: func(l *Location) { l.Lat = -90 }},
		{name: "lat above 90", edit: func(l *Location) { l.Lat = 90.000001 }, wantField: "lat", wantMsg: "lat: must be between -90 and 90"},
		{name: "lat below -90", edit: func(l *Location) { l.Lat = -90.000001 }, wantField: "lat"},
		{name: "lat NaN", edit: func(l *Location) { l.Lat = nan }, wantField: "lat"},
		{name: "lat +Inf", edit: func(l *Location) { l.Lat = inf }, wantField: "lat"},
		{name: "lon 180", edit: func(l *Location) { l.Lon = 180 }, want: func(l *Location) { l.Lon = 180 }},
		{name: "lon -180", edit: func(l *Location) { l.Lon = -180 }, want: func(l *Location) { l.Lon = -180 }},
		{name: "lon above 180", edit: func(l *Location) { l.Lon = 180.000001 }, wantField: "lon"},
		{name: "lon below -180", edit: func(l *Location) { l.Lon = -180.000001 }, wantField: "lon"},
		{name: "lon NaN", edit: func(l *Location) { l.Lon = nan }, wantField: "lon"},
		{name: "lon -Inf", edit: func(l *Location) { l.Lon = -inf }, wantField: "lon"},
		{name: "(0, 0) rejected", edit: func(l *Location) { l.Lat, l.Lon = 0, 0 }, wantField: "lat/lon"},
		{name: "lat 0 alone accepted", edit: func(l *Location) { l.Lat = 0 }, want: func(l *Location) { l.Lat = 0 }},
		{name: "lon 0 alone accepted", edit: func(l *Location) { l.Lon = 0 }, want: func(l *Location) { l.Lon = 0 }},

		{name: "negative accuracy is unknown", edit: func(l *Location) { l.AccuracyM = ptr(-1.0) }, want: func(l *Location) { l.AccuracyM = nil }},
		{name: "zero accuracy kept", edit: func(l *Location) { l.AccuracyM = ptr(0.0) }, want: func(l *Location) { l.AccuracyM = ptr(0.0) }},
		{name: "accuracy NaN", edit: func(l *Location) { l.AccuracyM = ptr(nan) }, wantField: "accuracy_m"},
		{name: "accuracy -Inf", edit: func(l *Location) { l.AccuracyM = ptr(-inf) }, wantField: "accuracy_m"},

		{name: "negative speed is unknown", edit: func(l *Location) { l.SpeedMPS = ptr(-1.0) }, want: func(l *Location) { l.SpeedMPS = nil }},
		{name: "speed 350 accepted", edit: func(l *Location) { l.SpeedMPS = ptr(350.0) }, want: func(l *Location) { l.SpeedMPS = ptr(350.0) }},
		{name: "speed above 350", edit: func(l *Location) { l.SpeedMPS = ptr(350.001) }, wantField: "speed_mps", wantMsg: "speed_mps: must not exceed 350"},
		{name: "speed +Inf", edit: func(l *Location) { l.SpeedMPS = ptr(inf) }, wantField: "speed_mps"},
		{name: "speed NaN", edit: func(l *Location) { l.SpeedMPS = ptr(nan) }, wantField: "speed_mps"},

		{name: "negative course is unknown", edit: func(l *Location) { l.CourseDeg = ptr(-1.0) }, want: func(l *Location) { l.CourseDeg = nil }},
		{name: "course 0 kept", edit: func(l *Location) { l.CourseDeg = ptr(0.0) }, want: func(l *Location) { l.CourseDeg = ptr(0.0) }},
		{name: "course 359.9 kept", edit: func(l *Location) { l.CourseDeg = ptr(359.9) }, want: func(l *Location) { l.CourseDeg = ptr(359.9) }},
		{name: "course 360 becomes 0", edit: func(l *Location) { l.CourseDeg = ptr(360.0) }, want: func(l *Location) { l.CourseDeg = ptr(0.0) }},
		{name: "course above 360", edit: func(l *Location) { l.CourseDeg = ptr(360.001) }, wantField: "course_deg"},
		{name: "course NaN", edit: func(l *Location) { l.CourseDeg = ptr(nan) }, wantField: "course_deg"},

		{name: "altitude -1000", edit: func(l *Location) { l.AltitudeM = ptr(-1000.0) }, want: func(l *Location) { l.AltitudeM = ptr(-1000.0) }},
		{name: "altitude 100000", edit: func(l *Location) { l.AltitudeM = ptr(100000.0) }, want: func(l *Location) { l.AltitudeM = ptr(100000.0) }},
		{name: "altitude below -1000", edit: func(l *Location) { l.AltitudeM = ptr(-1000.1) }, wantField: "altitude_m"},
		{name: "altitude above 100000", edit: func(l *Location) { l.AltitudeM = ptr(100000.1) }, wantField: "altitude_m", wantMsg: "altitude_m: must be between -1000 and 100000"},
		{name: "altitude +Inf", edit: func(l *Location) { l.AltitudeM = ptr(inf) }, wantField: "altitude_m"},

		{name: "battery 0", edit: func(l *Location) { l.BatteryPct = ptr(0.0) }, want: func(l *Location) { l.BatteryPct = ptr(0.0) }},
		{name: "battery 100", edit: func(l *Location) { l.BatteryPct = ptr(100.0) }, want: func(l *Location) { l.BatteryPct = ptr(100.0) }},
		{name: "battery negative", edit: func(l *Location) { l.BatteryPct = ptr(-0.1) }, wantField: "battery_pct"},
		{name: "battery above 100", edit: func(l *Location) { l.BatteryPct = ptr(100.1) }, wantField: "battery_pct"},
		{name: "battery NaN", edit: func(l *Location) { l.BatteryPct = ptr(nan) }, wantField: "battery_pct"},

		{
			name: "all optional fields unknown",
			edit: func(l *Location) {
				l.AccuracyM, l.AltitudeM, l.SpeedMPS, l.CourseDeg, l.BatteryPct = nil, nil, nil, nil, nil
			},
			want: func(l *Location) {
				l.AccuracyM, l.AltitudeM, l.SpeedMPS, l.CourseDeg, l.BatteryPct = nil, nil, nil, nil, nil
			},
		},

		// The attributes: motion, odometer_m, charging, activity, event and alarm.
		{name: "all attributes unknown", edit: func(l *Location) { l.Attributes = Attributes{} }, want: func(l *Location) { l.Attributes = Attributes{} }},
		{name: "odometer 0", edit: func(l *Location) { l.OdometerM = ptr(0.0) }, want: func(l *Location) { l.OdometerM = ptr(0.0) }},
		{name: "odometer at its bound", edit: func(l *Location) { l.OdometerM = ptr(1e10) }, want: func(l *Location) { l.OdometerM = ptr(1e10) }},
		{name: "odometer negative", edit: func(l *Location) { l.OdometerM = ptr(-0.5) }, wantField: "odometer_m", wantMsg: "odometer_m: must be between 0 and 10000000000"},
		{name: "odometer past its bound", edit: func(l *Location) { l.OdometerM = ptr(1e10 + 1) }, wantField: "odometer_m"},
		{name: "odometer NaN", edit: func(l *Location) { l.OdometerM = ptr(nan) }, wantField: "odometer_m", wantMsg: "odometer_m: must be a finite number"},
		{name: "odometer +Inf", edit: func(l *Location) { l.OdometerM = ptr(inf) }, wantField: "odometer_m"},
		{name: "text trimmed", edit: func(l *Location) { l.Alarm = ptr("  sos\t") }, want: func(l *Location) { l.Alarm = ptr("sos") }},
		{name: "empty event is unknown", edit: func(l *Location) { l.Event = ptr("") }, want: func(l *Location) { l.Event = nil }},
		{name: "blank activity is unknown", edit: func(l *Location) { l.Activity = ptr(" \n ") }, want: func(l *Location) { l.Activity = nil }},
		{name: "32 characters", edit: func(l *Location) { l.Event = ptr(max32) }, want: func(l *Location) { l.Event = ptr(max32) }},
		{name: "33 characters", edit: func(l *Location) { l.Event = ptr(max32 + "x") }, wantField: "event", wantMsg: "event: must be at most 32 characters"},
		{name: "activity too long", edit: func(l *Location) { l.Activity = ptr(strings.Repeat("a", 33)) }, wantField: "activity"},
		{name: "alarm too long", edit: func(l *Location) { l.Alarm = ptr(strings.Repeat("a", 33)) }, wantField: "alarm"},
		{name: "control character", edit: func(l *Location) { l.Alarm = ptr("s\x00s") }, wantField: "alarm", wantMsg: "alarm: must not contain control characters"},
		{name: "inner tab", edit: func(l *Location) { l.Activity = ptr("on\tfoot") }, wantField: "activity"},
		{name: "invalid UTF-8", edit: func(l *Location) { l.Event = ptr("\xff") }, wantField: "event", wantMsg: "event: must be valid UTF-8"},
		{name: "non-ASCII kept", edit: func(l *Location) { l.Event = ptr("Ankunft – Büro") }, want: func(l *Location) { l.Event = ptr("Ankunft – Büro") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := valid()
			if tt.edit != nil {
				tt.edit(&got)
			}
			before := got
			err := got.Normalize(now, tt.lim)

			if tt.wantField != "" {
				var fe *errs.FieldError
				if !errors.As(err, &fe) || !errors.Is(err, errs.Invalid) {
					t.Fatalf("Normalize() error = %v, want a *errs.FieldError", err)
				}
				if fe.Field != tt.wantField {
					t.Errorf("Normalize() error field = %q, want %q (error %q)", fe.Field, tt.wantField, err)
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Errorf("Normalize() error = %q, want %q", err, tt.wantMsg)
				}
				if diff := cmp.Diff(before, got, cmpopts.EquateNaNs()); diff != "" {
					t.Errorf("Normalize() changed the location on error (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize() error = %v, want nil", err)
			}
			want := valid()
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Normalize() mismatch (-want +got):\n%s", diff)
			}
			if got.RecordedAt.Location() != time.UTC {
				t.Errorf("RecordedAt location = %v, want UTC", got.RecordedAt.Location())
			}
		})
	}
}

// The 360 → 0 rewrite and the trimming of a text must not write through
// a pointer the caller may share.
func TestNormalizeDoesNotWriteThroughPointers(t *testing.T) {
	now := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	course, alarm := 360.0, " sos "
	l := Location{RecordedAt: now, Lat: 1, Lon: 1, CourseDeg: &course, Attributes: Attributes{Alarm: &alarm}}
	if err := l.Normalize(now, Limits{}); err != nil {
		t.Fatalf("Normalize() error = %v", err)
	}
	if *l.CourseDeg != 0 || *l.Alarm != "sos" {
		t.Errorf("course %v, alarm %q; want 0 and \"sos\"", *l.CourseDeg, *l.Alarm)
	}
	if course != 360 || alarm != " sos " {
		t.Errorf("shared values %v and %q, want 360 and \" sos \" (untouched)", course, alarm)
	}
}

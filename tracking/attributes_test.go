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

// TestNormalizeAttributes applies the rules of motion, odometer_m,
// charging, activity, event and alarm, one by one.
func TestNormalizeAttributes(t *testing.T) {
	now := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	valid := func() Location {
		return Location{RecordedAt: now.Add(-time.Hour), Lat: 52.52, Lon: 13.4, Attributes: Attributes{
			Motion: ptr(true), OdometerM: ptr(12345.6), Charging: ptr(false),
			Activity: ptr("walking"), Event: ptr("motionchange"), Alarm: ptr("sos"),
		}}
	}
	max32 := strings.Repeat("é", MaxAttributeLen) // 32 characters, 64 bytes

	tests := []struct {
		name      string
		edit      func(a *Attributes)
		want      func(a *Attributes) // applied to valid(); nil: unchanged
		wantField string
		wantMsg   string
	}{
		{name: "valid attributes unchanged"},
		{name: "all unknown", edit: func(a *Attributes) { *a = Attributes{} }, want: func(a *Attributes) { *a = Attributes{} }},
		{name: "odometer 0", edit: func(a *Attributes) { a.OdometerM = ptr(0.0) }, want: func(a *Attributes) { a.OdometerM = ptr(0.0) }},
		{name: "odometer at its bound", edit: func(a *Attributes) { a.OdometerM = ptr(1e10) }, want: func(a *Attributes) { a.OdometerM = ptr(1e10) }},
		{name: "odometer negative", edit: func(a *Attributes) { a.OdometerM = ptr(-0.5) }, wantField: "odometer_m", wantMsg: "odometer_m: must be between 0 and 10000000000"},
		{name: "odometer past its bound", edit: func(a *Attributes) { a.OdometerM = ptr(1e10 + 1) }, wantField: "odometer_m"},
		{name: "odometer NaN", edit: func(a *Attributes) { a.OdometerM = ptr(math.NaN()) }, wantField: "odometer_m", wantMsg: "odometer_m: must be a finite number"},
		{name: "odometer +Inf", edit: func(a *Attributes) { a.OdometerM = ptr(math.Inf(1)) }, wantField: "odometer_m"},
		{name: "text trimmed", edit: func(a *Attributes) { a.Alarm = ptr("  sos\t") }, want: func(a *Attributes) { a.Alarm = ptr("sos") }},
		{name: "empty event is unknown", edit: func(a *Attributes) { a.Event = ptr("") }, want: func(a *Attributes) { a.Event = nil }},
		{name: "blank activity is unknown", edit: func(a *Attributes) { a.Activity = ptr(" \n ") }, want: func(a *Attributes) { a.Activity = nil }},
		{name: "32 characters", edit: func(a *Attributes) { a.Event = ptr(max32) }, want: func(a *Attributes) { a.Event = ptr(max32) }},
		{name: "33 characters", edit: func(a *Attributes) { a.Event = ptr(max32 + "x") }, wantField: "event", wantMsg: "event: must be at most 32 characters"},
		{name: "activity too long", edit: func(a *Attributes) { a.Activity = ptr(strings.Repeat("a", 33)) }, wantField: "activity"},
		{name: "alarm too long", edit: func(a *Attributes) { a.Alarm = ptr(strings.Repeat("a", 33)) }, wantField: "alarm"},
		{name: "control character", edit: func(a *Attributes) { a.Alarm = ptr("s\x00s") }, wantField: "alarm", wantMsg: "alarm: must not contain control characters"},
		{name: "inner tab", edit: func(a *Attributes) { a.Activity = ptr("on\tfoot") }, wantField: "activity"},
		{name: "invalid UTF-8", edit: func(a *Attributes) { a.Event = ptr("\xff") }, wantField: "event", wantMsg: "event: must be valid UTF-8"},
		{name: "non-ASCII kept", edit: func(a *Attributes) { a.Event = ptr("Ankunft – Büro") }, want: func(a *Attributes) { a.Event = ptr("Ankunft – Büro") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := valid()
			if tt.edit != nil {
				tt.edit(&got.Attributes)
			}
			before := got
			err := got.Normalize(now, Limits{})
			if tt.wantField != "" {
				var fe *errs.FieldError
				if !errors.As(err, &fe) || !errors.Is(err, errs.Invalid) || fe.Field != tt.wantField {
					t.Fatalf("Normalize() error = %v, want an *errs.FieldError for %s", err, tt.wantField)
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
				t.Fatalf("Normalize() error = %v", err)
			}
			want := valid()
			if tt.want != nil {
				tt.want(&want.Attributes)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Normalize() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Trimming must not write through a pointer the caller may share.
func TestNormalizeAttributesDoNotWriteThroughPointers(t *testing.T) {
	now := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	shared := " sos "
	l := Location{RecordedAt: now, Lat: 1, Lon: 1, Attributes: Attributes{Alarm: &shared}}
	if err := l.Normalize(now, Limits{}); err != nil {
		t.Fatal(err)
	}
	if *l.Alarm != "sos" || shared != " sos " {
		t.Errorf("alarm %q, shared %q; want \"sos\" and the shared value untouched", *l.Alarm, shared)
	}
}

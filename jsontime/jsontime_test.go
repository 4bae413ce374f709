package jsontime_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/usersync/usersync/jsontime"
)

func TestFixedWidth(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 27, 20, 53, 55, 0, time.UTC), `"2026-11-27T20:53:55.000Z"`},
		{time.Date(2026, 11, 27, 20, 53, 55, 123456789, time.UTC), `"2026-11-27T20:53:55.123Z"`}, // truncated, not rounded
		{time.Date(2026, 11, 27, 21, 53, 55, 120000000, berlin), `"2026-11-27T20:53:55.120Z"`},   // in UTC
		{time.Date(2026, 11, 27, 20, 53, 55, 999999999, time.UTC), `"2026-11-27T20:53:55.999Z"`},
	} {
		got, err := json.Marshal(jsontime.Of(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
		if b, ok := jsontime.Append(nil, tc.in); !ok || string(b) != tc.want {
			t.Errorf("Append(%v) = %s, %v; want %s", tc.in, b, ok, tc.want)
		}
	}
	if _, err := json.Marshal(jsontime.Of(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))); err == nil {
		t.Error("year 10000 marshalled; RFC 3339 has four digits")
	}
	if got, _ := json.Marshal(jsontime.Ptr(nil)); string(got) != "null" {
		t.Errorf("Ptr(nil) = %s, want null", got)
	}
}

// TestStringOrderIsTimeOrder: sorting the JSON strings sorts the times.
func TestStringOrderIsTimeOrder(t *testing.T) {
	base := time.Date(2026, 11, 27, 20, 53, 55, 0, time.UTC)
	var times []time.Time
	for _, d := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second, 9 * time.Second, 10 * time.Second} {
		times = append(times, base.Add(d))
	}
	var strs []string
	for _, tm := range slices.Backward(times) {
		strs = append(strs, jsontime.Format(tm))
	}
	slices.Sort(strs)
	for i, s := range strs {
		if want := jsontime.Format(times[i]); s != want {
			t.Fatalf("sorted[%d] = %s, want %s", i, s, want)
		}
	}
}

// Package jsontime is how usersync writes a time in JSON: RFC 3339 in UTC
// with exactly three fractional digits, "2026-11-27T20:53:55.000Z". Every
// timestamp has the same width, so string order is time order, and the
// millisecond is the precision of every time the service keeps for clients
// (a location's recorded_at is kept to the millisecond).
package jsontime

import (
	"fmt"
	"time"
)

// Layout is the format: time.RFC3339 with milliseconds, always three digits.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Time is a time.Time that marshals in Layout, in UTC.
type Time struct{ time.Time }

// Of wraps t.
func Of(t time.Time) Time { return Time{t} }

// Ptr wraps *t; nil stays nil (JSON null).
func Ptr(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	return &Time{*t}
}

// Format is t in Layout, in UTC, truncated to the millisecond.
func Format(t time.Time) string { return t.UTC().Format(Layout) }

// Append appends t as a JSON string in Layout; ok is false for a year
// outside 0–9999, which RFC 3339 cannot write.
func Append(b []byte, t time.Time) ([]byte, bool) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, Layout)
	return append(b, '"'), true
}

// MarshalJSON writes the time in Layout.
func (t Time) MarshalJSON() ([]byte, error) {
	b, ok := Append(make([]byte, 0, len(Layout)+2), t.Time)
	if !ok {
		return nil, fmt.Errorf("jsontime: year %d has no RFC 3339 form", t.Year())
	}
	return b, nil
}

// UnmarshalJSON reads any RFC 3339 time, as clients and tests send them.
func (t *Time) UnmarshalJSON(b []byte) error { return t.Time.UnmarshalJSON(b) }

package httpapi

import (
	"math"
	"strconv"

	"github.com/usersync/usersync/jsontime"
)

// Route pages hold up to 10,000 points, and json.Marshal of each point
// (reflection over a time and seven pointers) was the costliest part of
// serving one. appendRoutePoint and appendPosition write the very bytes
// json.Marshal writes for them. ok is false for what they leave to
// json.Marshal: a value it refuses (a NaN or infinite number, a year
// outside 0–9999), for its error.

// appendRoutePoint appends the JSON of l as a route point (locationJSON
// without received_at).
func appendRoutePoint(b []byte, l *locationJSON) ([]byte, bool) {
	if l.ReceivedAt != nil {
		return b, false // not a route point: leave it to json.Marshal
	}
	b = append(b, `{"recorded_at":`...)
	b, ok := jsontime.Append(b, l.RecordedAt.Time)
	if !ok {
		return b, false
	}
	fields := [...]struct {
		name string
		v    *float64
	}{
		{`,"lat":`, &l.Lat}, {`,"lon":`, &l.Lon},
		{`,"accuracy_m":`, l.AccuracyM}, {`,"altitude_m":`, l.AltitudeM}, {`,"speed_mps":`, l.SpeedMPS},
		{`,"course_deg":`, l.CourseDeg}, {`,"battery_pct":`, l.BatteryPct},
	}
	for _, f := range fields {
		b = append(b, f.name...)
		if f.v == nil {
			b = append(b, "null"...)
			continue
		}
		if b, ok = appendJSONFloat(b, *f.v); !ok {
			return b, false
		}
	}
	return appendAttributes(b, l)
}

// appendPosition appends a GeoJSON position, [lon,lat].
func appendPosition(b []byte, p [2]float64) ([]byte, bool) {
	b = append(b, '[')
	b, ok := appendJSONFloat(b, p[0])
	if !ok {
		return b, false
	}
	b = append(b, ',')
	if b, ok = appendJSONFloat(b, p[1]); !ok {
		return b, false
	}
	return append(b, ']'), true
}

// appendJSONFloat is encoding/json's float64 encoder.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

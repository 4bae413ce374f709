package tracking

import (
	"fmt"
	"math"
	"time"
)

// Location is one fix in SI units. A nil pointer means unknown (JSON null).
type Location struct {
	RecordedAt time.Time // when the device took the fix
	ReceivedAt time.Time // server time of the report; zero until the caller stamps it
	Lat, Lon   float64   // WGS 84 degrees
	AccuracyM  *float64  // horizontal accuracy radius, meters
	AltitudeM  *float64  // meters above sea level
	SpeedMPS   *float64  // meters per second
	CourseDeg  *float64  // degrees clockwise from true north, [0, 360)
	BatteryPct *float64  // 0–100
	Attributes           // what trackers report beyond the position
}

// Defaults of Limits (docs/tracking.md, "Point validation").
const (
	DefaultMaxAge    = 365 * 24 * time.Hour // LOCATION_MAX_AGE
	DefaultMaxFuture = 10 * time.Minute
)

// Physical bounds of "Point validation".
const (
	maxSpeedMPS = 350
	minAltitude = -1000
	maxAltitude = 100000
)

// Limits bounds recorded_at relative to the server clock. A zero (or negative)
// field means its default.
type Limits struct {
	MaxAge    time.Duration // oldest accepted fix; LOCATION_MAX_AGE, default 365 days
	MaxFuture time.Duration // clock skew tolerated ahead of now, default 10 minutes
}

func (lim Limits) maxAge() time.Duration {
	if lim.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return lim.MaxAge
}

func (lim Limits) maxFuture() time.Duration {
	if lim.MaxFuture <= 0 {
		return DefaultMaxFuture
	}
	return lim.MaxFuture
}

// Normalize applies "Point validation" (docs/tracking.md) to l, as of the server
// time now: RecordedAt (and ReceivedAt, if set) become UTC truncated to the
// millisecond, the key of idempotent ingest; platform "unknown" sentinels
// (negative accuracy, speed or course) become nil; a course of 360 becomes 0.
// It returns a *errs.FieldError for the first rule broken, and
// then leaves l untouched.
func (l *Location) Normalize(now time.Time, lim Limits) error {
	n := *l
	n.RecordedAt = l.RecordedAt.UTC().Truncate(time.Millisecond)
	if !n.ReceivedAt.IsZero() {
		n.ReceivedAt = l.ReceivedAt.UTC().Truncate(time.Millisecond)
	}
	if d := lim.maxFuture(); n.RecordedAt.After(now.Add(d)) {
		return invalid("recorded_at", "must not be more than %s in the future", humanDuration(d))
	}
	if d := lim.maxAge(); n.RecordedAt.Before(now.Add(-d)) {
		return invalid("recorded_at", "must not be older than %s", humanDuration(d))
	}

	switch {
	case !finite(n.Lat):
		return invalid("lat", "must be a finite number")
	case n.Lat < -90 || n.Lat > 90:
		return invalid("lat", "must be between -90 and 90")
	case !finite(n.Lon):
		return invalid("lon", "must be a finite number")
	case n.Lon < -180 || n.Lon > 180:
		return invalid("lon", "must be between -180 and 180")
	case n.Lat == 0 && n.Lon == 0:
		// (0, 0) is what a tracker without a fix sends, not a place in the Gulf of Guinea.
		return invalid("lat/lon", "must not be exactly (0, 0)")
	}

	var err error
	if n.AccuracyM, err = unknownIfNegative("accuracy_m", n.AccuracyM); err != nil {
		return err
	}
	if n.AltitudeM, err = inRange("altitude_m", n.AltitudeM, minAltitude, maxAltitude); err != nil {
		return err
	}
	if n.SpeedMPS, err = unknownIfNegative("speed_mps", n.SpeedMPS); err != nil {
		return err
	}
	if n.SpeedMPS != nil && *n.SpeedMPS > maxSpeedMPS {
		return invalid("speed_mps", "must not exceed %d", maxSpeedMPS)
	}
	if n.CourseDeg, err = unknownIfNegative("course_deg", n.CourseDeg); err != nil {
		return err
	}
	if n.CourseDeg != nil {
		switch c := *n.CourseDeg; {
		case c == 360:
			n.CourseDeg = ptr(0.0) // a new pointer: the caller's value may be shared
		case c > 360:
			return invalid("course_deg", "must be between 0 and 360")
		}
	}
	if n.BatteryPct, err = inRange("battery_pct", n.BatteryPct, 0, 100); err != nil {
		return err
	}
	if n.Attributes, err = n.Attributes.normalize(); err != nil {
		return err
	}

	*l = n
	return nil
}

// unknownIfNegative maps a negative value (a platform's "unknown") to nil.
func unknownIfNegative(field string, v *float64) (*float64, error) {
	if v == nil {
		return nil, nil
	}
	if !finite(*v) {
		return nil, invalid(field, "must be a finite number")
	}
	if *v < 0 {
		return nil, nil
	}
	return v, nil
}

func inRange(field string, v *float64, lo, hi float64) (*float64, error) {
	if v == nil {
		return nil, nil
	}
	if !finite(*v) {
		return nil, invalid(field, "must be a finite number")
	}
	if *v < lo || *v > hi {
		return nil, invalid(field, "must be between %g and %g", lo, hi)
	}
	return v, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func ptr[T any](v T) *T { return &v }

// humanDuration spells a limit the way an operator configured it
// ("365 days", "10 minutes") rather than as "8760h0m0s".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	const day = 24 * time.Hour
	switch {
	case d%day == 0:
		return plural(int64(d/day), "day")
	case d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		return d.String()
	}
}

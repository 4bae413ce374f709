package tracking

import (
	"context"
	"database/sql"
	"math"
	"time"
)

// Summary is what a device did over a span.
type Summary struct {
	Span
	Points int
	// DistanceM is the sum of the great-circle distances between
	// consecutive points, in meters.
	DistanceM                       float64
	FirstRecordedAt, LastRecordedAt *time.Time // nil without points
	// MaxSpeedMPS is the highest speed the device reported; nil if it
	// reported none.
	MaxSpeedMPS *float64
	// BBox is [min lon, min lat, max lon, max lat] of the points, nil
	// without points. It is the plain extent of the coordinates: a track
	// that crosses the antimeridian spans nearly every longitude.
	BBox *[4]float64
}

// Summary sums up the points of sp, which must be ownerID's device
// (ErrDeviceNotFound otherwise), reading them once in ascending recorded_at and
// keeping nothing but the running figures.
func (s *Service) Summary(ctx context.Context, ownerID int64, sp Span) (Summary, error) {
	if _, err := s.GetDevice(ctx, ownerID, sp.DeviceID); err != nil {
		return Summary{}, err
	}
	var (
		m        summer
		ms       int64
		lat, lon float64
		speed    sql.Null[float64]
	)
	err := scanEach(ctx, s.spanQuery(sp, "recorded_at", "lat", "lon", "speed_mps"), "read summary", []any{&ms, &lat, &lon, &speed}, func() error {
		m.add(ms, lat, lon, speed)
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	return m.summary(sp), nil
}

// summer keeps the running figures of a Summary.
type summer struct {
	points          int
	distanceM       float64
	firstMs, lastMs int64
	last            [2]float64 // [lat, lon] of the last point
	maxSpeed        sql.Null[float64]
	bbox            [4]float64
}

// add counts one point, the next in time order.
func (m *summer) add(ms int64, lat, lon float64, speed sql.Null[float64]) {
	if m.points == 0 {
		m.firstMs = ms
		m.bbox = [4]float64{lon, lat, lon, lat}
	} else {
		m.distanceM += GreatCircleM(m.last, [2]float64{lat, lon})
		b := &m.bbox
		b[0], b[1], b[2], b[3] = min(b[0], lon), min(b[1], lat), max(b[2], lon), max(b[3], lat)
	}
	m.points++
	m.lastMs = ms
	m.last = [2]float64{lat, lon}
	if speed.Valid && (!m.maxSpeed.Valid || speed.V > m.maxSpeed.V) {
		m.maxSpeed = speed
	}
}

func (m *summer) summary(sp Span) Summary {
	s := Summary{Span: sp, Points: m.points, DistanceM: m.distanceM, MaxSpeedMPS: orNil(m.maxSpeed)}
	if m.points > 0 {
		s.FirstRecordedAt = fromMillis(&m.firstMs)
		s.LastRecordedAt = fromMillis(&m.lastMs)
		s.BBox = &m.bbox
	}
	return s
}

// GreatCircleM is the great-circle distance in meters between two
// [lat, lon] points in degrees on a sphere of the Earth's mean radius, by
// the haversine formula (well conditioned for the short hops of a track).
func GreatCircleM(a, b [2]float64) float64 {
	const rad = math.Pi / 180
	lat1, lat2 := a[0]*rad, b[0]*rad
	sinLat := math.Sin((lat2 - lat1) / 2)
	sinLon := math.Sin((b[1] - a[1]) * rad / 2)
	h := sinLat*sinLat + math.Cos(lat1)*math.Cos(lat2)*sinLon*sinLon
	return 2 * earthRadiusM * math.Asin(math.Sqrt(min(1, h)))
}

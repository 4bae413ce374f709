package tracking

import "math"

// earthRadiusM is the mean Earth radius (IUGG), meters.
const earthRadiusM = 6371008.8

// Simplify reduces a route with the Douglas–Peucker algorithm: it keeps the
// first and last points and every point needed so that no dropped point lies
// more than toleranceM meters from the simplified line. It returns a new slice
// in the original order; points is not modified.
//
// Distances are measured in a local equirectangular projection centred on
// each segment (accurate to well under 1 % over the few kilometres a route
// segment spans, away from the poles), and to the segment rather than to its
// infinite line, so that the far end of an out-and-back walk is kept.
//
// The recursion runs on an explicit stack, so any length is safe; time is
// O(n log n) typically, O(n²) at worst. A tolerance that is not positive (or
// NaN) keeps every point.
func Simplify(points []Location, toleranceM float64) []Location {
	if len(points) <= 2 || !(toleranceM > 0) {
		return append([]Location(nil), points...)
	}
	keep := make([]bool, len(points))
	keep[0], keep[len(points)-1] = true, true

	type span struct{ first, last int }
	stack := []span{{0, len(points) - 1}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.last-s.first < 2 {
			continue
		}
		seg := newSegment(points[s.first], points[s.last])
		farthest, maxDist := -1, toleranceM
		for i := s.first + 1; i < s.last; i++ {
			if d := seg.distance(points[i]); d > maxDist {
				farthest, maxDist = i, d
			}
		}
		if farthest < 0 {
			continue // every point within tolerance: drop them all
		}
		keep[farthest] = true
		stack = append(stack, span{s.first, farthest}, span{farthest, s.last})
	}

	out := make([]Location, 0, len(points))
	for i, k := range keep {
		if k {
			out = append(out, points[i])
		}
	}
	return out
}

// segment is a route segment projected onto a plane tangent near it, in
// meters, with its start at the origin.
type segment struct {
	origin          Location
	cosLat          float64 // shrinks longitude degrees at the segment's latitude
	dx, dy, length2 float64
}

func newSegment(a, b Location) segment {
	s := segment{origin: a, cosLat: math.Cos((a.Lat + b.Lat) / 2 * math.Pi / 180)}
	s.dx, s.dy = s.project(b)
	s.length2 = s.dx*s.dx + s.dy*s.dy
	return s
}

// project maps p to meters east and north of the segment's start.
func (s segment) project(p Location) (x, y float64) {
	const mPerDeg = earthRadiusM * math.Pi / 180
	dLon := math.Remainder(p.Lon-s.origin.Lon, 360) // the short way across the antimeridian
	return dLon * s.cosLat * mPerDeg, (p.Lat - s.origin.Lat) * mPerDeg
}

// distance from p to the closest point of the segment, in meters.
func (s segment) distance(p Location) float64 {
	x, y := s.project(p)
	if s.length2 > 0 {
		t := (x*s.dx + y*s.dy) / s.length2
		t = math.Max(0, math.Min(1, t))
		x, y = x-t*s.dx, y-t*s.dy
	}
	return math.Hypot(x, y)
}

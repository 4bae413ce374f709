package tracking

import (
	"math"
	"math/bits"
)

// earthRadiusM is the mean Earth radius (IUGG), meters.
const earthRadiusM = 6371008.8

// Simplify reduces a route with the Douglas–Peucker algorithm: it keeps the
// first and last points and every point needed so that no dropped point lies
// more than toleranceM meters from the simplified line. It returns a new slice
// in the original order, and true; points is not modified.
//
// Distances are measured in a local equirectangular projection centred on
// each segment (accurate to well under 1 % over the few kilometres a route
// segment spans, away from the poles), and to the segment rather than to its
// infinite line, so that the far end of an out-and-back walk is kept.
//
// Douglas–Peucker costs O(n log n) distance computations on a real track
// but O(n²) on a crafted one (a track that doubles back on itself with
// shrinking swings is split one point at a time). So the work is budgeted
// (see simplifyBudget): past the budget Simplify gives up and returns a copy
// of every point, and false. The recursion runs on an explicit stack, so any
// length is safe. A tolerance that is not positive (or NaN) keeps every point.
func Simplify(points []Location, toleranceM float64) ([]Location, bool) {
	if len(points) <= 2 || !(toleranceM > 0) {
		return append([]Location(nil), points...), true
	}
	keep, _, ok := simplify(points, toleranceM, simplifyBudget(len(points)))
	if !ok {
		return append([]Location(nil), points...), false
	}
	out := make([]Location, 0, len(points))
	for i, k := range keep {
		if k {
			out = append(out, points[i])
		}
	}
	return out, true
}

// The work budget of Simplify, in distance computations (each about
// 30 ns): Douglas–Peucker measures each point once per level of its
// recursion, which is log₂ n levels when a track splits evenly, and random
// tracks, laps and GPS noise measured at about 1.0–1.2 · n · log₂ n. The
// budget allows 4 · n · (⌊log₂ n⌋ + 1), and never less than simplifyMinBudget,
// so that pages of up to ~1,000 points are simplified whatever their
// shape. On a page of 10,000 points (the route's limit) that is 560,000
// computations, some 15–25 ms of one core.
const (
	simplifyWorkPerPointLevel = 4
	simplifyMinBudget         = 1 << 19
)

// simplifyBudget is how many distance computations Simplify may spend on n
// points: O(n log n).
func simplifyBudget(n int) int {
	return max(simplifyMinBudget, simplifyWorkPerPointLevel*n*bits.Len(uint(n)))
}

// simplify marks the points Douglas–Peucker keeps among len(points) > 2,
// with toleranceM > 0, spending at most budget distance computations. It
// returns the marks, the computations spent, and false (with nil marks) if
// the next step would have overspent the budget.
func simplify(points []Location, toleranceM float64, budget int) (keep []bool, work int, ok bool) {
	keep = make([]bool, len(points))
	keep[0], keep[len(points)-1] = true, true

	type span struct{ first, last int }
	stack := []span{{0, len(points) - 1}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.last-s.first < 2 {
			continue
		}
		if work+s.last-s.first-1 > budget {
			return nil, work, false
		}
		work += s.last - s.first - 1
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
	return keep, work, true
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

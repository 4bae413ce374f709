package tracking

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// offset returns the point east and north meters from (52.52, 13.4), spaced a
// second apart by index i.
func offset(i int, east, north float64) Location {
	const lat0, lon0 = 52.52, 13.4
	mPerDeg := earthRadiusM * math.Pi / 180
	return Location{
		RecordedAt: time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Lat:        lat0 + north/mPerDeg,
		Lon:        lon0 + east/(mPerDeg*math.Cos(lat0*math.Pi/180)),
	}
}

// zigzag is the sign of the noise of point i: +1, -1, +1, …
func zigzag(i int) float64 { return float64(1 - 2*(i%2)) }

func TestSimplify(t *testing.T) {
	// 101 points 10 m apart going north, 1 m of noise either side.
	var line []Location
	for i := range 101 {
		line = append(line, offset(i, zigzag(i), float64(i)*10))
	}
	// East 1 km, then north 1 km, with 0.5 m of noise.
	var corner []Location
	for i := range 201 {
		e, n := float64(i)*10, 0.0
		if i > 100 {
			e, n = 1000, float64(i-100)*10
		}
		corner = append(corner, offset(i, e+0.5*zigzag(i), n))
	}
	// North 500 m and back along the same street.
	var outAndBack []Location
	for i := range 101 {
		n := float64(i) * 10
		if i > 50 {
			n = float64(100-i) * 10
		}
		outAndBack = append(outAndBack, offset(i, 0, n))
	}
	// Due east across the antimeridian at the equator.
	var antimeridian []Location
	for i := range 21 {
		lon := math.Remainder(179.99+float64(i)*0.001, 360)
		antimeridian = append(antimeridian, Location{Lat: 0.0001 * zigzag(i) / 1000, Lon: lon})
	}

	tests := []struct {
		name      string
		points    []Location
		tolerance float64
		want      []Location
	}{
		{name: "noisy straight line collapses", points: line, tolerance: 5, want: []Location{line[0], line[100]}},
		{name: "right angle keeps the corner", points: corner, tolerance: 5, want: []Location{corner[0], corner[100], corner[200]}},
		{name: "tolerance below the noise keeps all", points: line, tolerance: 0.5, want: line},
		{name: "out and back keeps the far end", points: outAndBack, tolerance: 5, want: []Location{outAndBack[0], outAndBack[50], outAndBack[100]}},
		{name: "across the antimeridian", points: antimeridian, tolerance: 1, want: []Location{antimeridian[0], antimeridian[20]}},
		{name: "zero tolerance keeps all", points: line, tolerance: 0, want: line},
		{name: "NaN tolerance keeps all", points: line, tolerance: math.NaN(), want: line},
		{name: "two points", points: line[:2], tolerance: 1000, want: line[:2]},
		{name: "one point", points: line[:1], tolerance: 1000, want: line[:1]},
		{name: "no points", points: nil, tolerance: 1000, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Simplify(tt.points, tt.tolerance)
			if !ok {
				t.Fatal("Simplify() gave up within its budget")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Simplify() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSimplifyDoesNotAliasInput(t *testing.T) {
	points := []Location{offset(0, 0, 0), offset(1, 0, 10)}
	got, _ := Simplify(points, 1)
	got[0].Lat = 0
	if points[0].Lat == 0 {
		t.Error("Simplify() result shares its backing array with the input")
	}
}

// A long random walk: no stack exhaustion, and the Douglas–Peucker guarantee
// holds: every dropped point is within tolerance of the kept segment spanning it.
func TestSimplifyLongRoute(t *testing.T) {
	const n, tolerance = 200_000, 3.0
	rng := rand.New(rand.NewPCG(1, 2))
	points := make([]Location, n)
	var e, north float64
	for i := range points {
		e += rng.NormFloat64() * 5
		north += rng.NormFloat64() * 5
		points[i] = offset(i, e, north)
	}

	got, ok := Simplify(points, tolerance)
	if !ok {
		t.Fatal("Simplify() gave up on a random walk")
	}

	if len(got) < 2 || got[0] != points[0] || got[len(got)-1] != points[n-1] {
		t.Fatalf("Simplify() did not keep the first and last points")
	}
	if len(got) >= n {
		t.Errorf("Simplify() kept %d of %d points, want fewer", len(got), n)
	}
	k := 0 // index in points of got[j]
	for j := 1; j < len(got); j++ {
		seg := newSegment(got[j-1], got[j])
		next := k + 1
		for next < n && points[next] != got[j] {
			if d := seg.distance(points[next]); d > tolerance {
				t.Fatalf("point %d dropped at %.2f m from the simplified route, tolerance %v", next, d, tolerance)
			}
			next++
		}
		if next == n {
			t.Fatalf("Simplify() output is not a subsequence of its input")
		}
		k = next
	}
}

func BenchmarkSimplify(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	points := make([]Location, 10_000)
	var e, north float64
	for i := range points {
		e += rng.NormFloat64() * 5
		north += rng.NormFloat64() * 5
		points[i] = offset(i, e, north)
	}
	for b.Loop() {
		Simplify(points, 5)
	}
}

// backAndForth is a crafted track on which plain Douglas–Peucker is
// quadratic: n points on one meridian that swing either side of the start
// with shrinking amplitude (10 m less each time) and come back to it. The
// farthest point from every span is the one right after its start, so each
// step splits off one point: n²/2 distance computations.
func backAndForth(n int) []Location {
	points := make([]Location, n)
	for i := range points {
		north := float64(n-i) * 10 * zigzag(i)
		if i == 0 || i == n-1 {
			north = 0
		}
		points[i] = offset(i, 0, north)
	}
	return points
}

// TestSimplifyBudget: on the crafted track Douglas–Peucker would need
// n²/2 distance computations; Simplify stops within its O(n log n) budget
// and returns every point, saying it did not simplify. Real shapes of the
// same size stay within the budget and are simplified.
func TestSimplifyBudget(t *testing.T) {
	// The track is what it claims: quadratic without a budget (on a size
	// where that is quick to show).
	if _, work, ok := simplify(backAndForth(2000), 1, math.MaxInt); !ok || work != 1999*1998/2 {
		t.Fatalf("unbudgeted work on 2,000 crafted points = %d, want (n-1)(n-2)/2 = %d", work, 1999*1998/2)
	}

	const n = 10_000 // the route's page limit
	points := backAndForth(n)
	_, work, ok := simplify(points, 1, simplifyBudget(n))
	if ok || work > simplifyBudget(n) {
		t.Errorf("simplify() = work %d, ok %v; want it to stop within its budget of %d", work, ok, simplifyBudget(n))
	}
	if budget := simplifyBudget(n); budget > 50*n*14 {
		t.Errorf("budget on %d points = %d, want O(n log n)", n, budget)
	}
	got, ok := Simplify(points, 1)
	if ok {
		t.Error("Simplify() on the crafted track reports it simplified")
	}
	if diff := cmp.Diff(points, got); diff != "" {
		t.Errorf("Simplify() past its budget must return every point (-want +got):\n%s", diff)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	shapes := map[string]func(i int) Location{
		"a walk north with growing noise": func(i int) Location { return offset(i, rng.NormFloat64()*5*float64(i%100), float64(i)) },
		"GPS noise at rest": func(i int) Location {
			return offset(i, rng.NormFloat64()*5, rng.NormFloat64()*5)
		},
		"200 laps": func(i int) Location {
			a := float64(i) / n * 200 * 2 * math.Pi
			return offset(i, 50*math.Cos(a)+rng.NormFloat64(), 50*math.Sin(a)+rng.NormFloat64())
		},
		"back and forth on a 300 m track": func(i int) Location {
			x := float64(i % 200)
			if x > 100 {
				x = 200 - x
			}
			return offset(i, rng.NormFloat64(), x*3)
		},
	}
	for name, shape := range shapes {
		track := make([]Location, n)
		for i := range track {
			track[i] = shape(i)
		}
		for _, tolerance := range []float64{0.5, 5, 50} {
			if _, ok := Simplify(track, tolerance); !ok {
				t.Errorf("%s at %v m: Simplify() gave up, want a real track simplified", name, tolerance)
			}
		}
	}
}

// BenchmarkSimplifyCrafted is the crafted track of TestSimplifyBudget at the
// route's page limit: the cost of a page that hits the budget.
func BenchmarkSimplifyCrafted(b *testing.B) {
	points := backAndForth(10_000)
	for b.Loop() {
		Simplify(points, 1)
	}
}

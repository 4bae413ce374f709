package tracking_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// TestRoutePaging: 2,500 points read 1,000 at a time come back each exactly
// once, in order, in three pages; the range bounds are inclusive and
// exclusive at millisecond precision.
func TestRoutePaging(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ann, d, token := f.annsDevice(t)
		base := now0.Add(-10 * time.Hour)

		const n = 2500
		var batch []tracking.Location
		for i := range n {
			batch = append(batch, fixAt(base.Add(time.Duration(i)*time.Second+7*time.Millisecond), i))
			if len(batch) == tracking.MaxIngestPoints || i == n-1 {
				f.ingest(t, token, batch...)
				batch = nil
			}
		}

		from, to := base, base.Add(n*time.Second)
		points, pages := f.route(t, ann, d.ID, tracking.RouteQuery{From: &from, To: &to, Limit: ptr(1000)})
		if pages != 3 || len(points) != n {
			t.Fatalf("%d points in %d pages, want %d in 3", len(points), pages, n)
		}
		for i, p := range points {
			if want := base.Add(time.Duration(i)*time.Second + 7*time.Millisecond); !p.RecordedAt.Equal(want) {
				t.Fatalf("point %d recorded at %v, want %v", i, p.RecordedAt, want)
			}
		}

		// from is inclusive, to exclusive, both to the nanosecond.
		first := base.Add(7 * time.Millisecond)
		for _, tc := range []struct {
			name     string
			from, to time.Time
			want     int
		}{
			{"from on a point", first, first.Add(time.Second), 1},
			{"from a nanosecond after a point", first.Add(time.Nanosecond), first.Add(time.Second), 0},
			{"to on a point", first, first.Add(2 * time.Second), 2},
			{"to a nanosecond after a point", first, first.Add(2*time.Second + time.Nanosecond), 3},
		} {
			points, _ := f.route(t, ann, d.ID, tracking.RouteQuery{From: &tc.from, To: &tc.to})
			if len(points) != tc.want {
				t.Errorf("%s: %d points, want %d", tc.name, len(points), tc.want)
			}
		}
	})
}

func TestPlanRoute(t *testing.T) {
	f := newFixture(t, nil, tracking.Config{MaxRouteSpan: 48 * time.Hour})
	at := func(d time.Duration) *time.Time { v := now0.Add(d); return &v }
	other := tracking.EncodeRouteCursor(tracking.RouteCursor{DeviceID: 8, From: *at(-time.Hour), To: now0, After: *at(-time.Minute)})
	mine := tracking.EncodeRouteCursor(tracking.RouteCursor{DeviceID: 7, From: *at(-time.Hour), To: now0, After: *at(-time.Minute)})

	t.Run("defaults", func(t *testing.T) {
		p, err := f.svc.PlanRoute(7, tracking.RouteQuery{})
		if err != nil || !p.To.Equal(now0) || !p.From.Equal(now0.Add(-24*time.Hour)) || p.Limit != 1000 || p.SimplifyM != 0 {
			t.Errorf("PlanRoute() = %+v, %v", p, err)
		}
		p, err = f.svc.PlanRoute(7, tracking.RouteQuery{To: at(-time.Hour)})
		if err != nil || !p.From.Equal(now0.Add(-25*time.Hour)) {
			t.Errorf("from defaults to to − 24h: %+v, %v", p, err)
		}
	})
	t.Run("the cursor's range is the default", func(t *testing.T) {
		p, err := f.svc.PlanRoute(7, tracking.RouteQuery{Cursor: mine})
		if err != nil || !p.From.Equal(now0.Add(-time.Hour)) || !p.To.Equal(now0) {
			t.Errorf("PlanRoute(cursor) = %+v, %v", p, err)
		}
		if _, err := f.svc.PlanRoute(7, tracking.RouteQuery{Cursor: mine, From: at(-time.Hour), To: at(0)}); err != nil {
			t.Errorf("cursor with its own range repeated: %v", err)
		}
	})

	for _, tc := range []struct {
		name      string
		q         tracking.RouteQuery
		wantField string
	}{
		{"from after to", tracking.RouteQuery{From: at(0), To: at(-time.Hour)}, "from"},
		{"from equals to", tracking.RouteQuery{From: at(0), To: at(0)}, "from"},
		{"span over the maximum", tracking.RouteQuery{From: at(-48*time.Hour - time.Nanosecond), To: at(0)}, "from"},
		{"limit 0", tracking.RouteQuery{Limit: ptr(0)}, "limit"},
		{"limit 10001", tracking.RouteQuery{Limit: ptr(10001)}, "limit"},
		{"simplify 0", tracking.RouteQuery{SimplifyM: ptr(0.0)}, "simplify"},
		{"simplify 1000.1", tracking.RouteQuery{SimplifyM: ptr(1000.1)}, "simplify"},
		{"simplify NaN", tracking.RouteQuery{SimplifyM: ptr(math.NaN())}, "simplify"},
		{"garbage cursor", tracking.RouteQuery{Cursor: "abc"}, "cursor"},
		{"another device's cursor", tracking.RouteQuery{Cursor: other}, "cursor"},
		{"cursor of another from", tracking.RouteQuery{Cursor: mine, From: at(-2 * time.Hour)}, "cursor"},
		{"cursor of another to", tracking.RouteQuery{Cursor: mine, To: at(time.Second)}, "cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.PlanRoute(7, tc.q)
			var fe *errs.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.wantField || !errors.Is(err, errs.Invalid) {
				t.Errorf("PlanRoute() = %v, want a FieldError for %s", err, tc.wantField)
			}
		})
	}
	t.Run("span of exactly the maximum", func(t *testing.T) {
		if _, err := f.svc.PlanRoute(7, tracking.RouteQuery{From: at(-48 * time.Hour), To: at(0), Limit: ptr(10000), SimplifyM: ptr(1000.0)}); err != nil {
			t.Errorf("PlanRoute() = %v", err)
		}
	})
}

// TestRouteSimplify: a straight walk north with one 50 m detour east, read
// with a 5 m tolerance, keeps its ends and the detour's corner only.
func TestRouteSimplify(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ann, d, token := f.annsDevice(t)
		base := now0.Add(-time.Hour)

		const mPerDegLat = 6371008.8 * math.Pi / 180
		var walk []tracking.Location
		for i := range 21 {
			east := 0.0
			if i == 10 {
				east = 50
			}
			walk = append(walk, tracking.Location{
				RecordedAt: base.Add(time.Duration(i) * time.Second),
				Lat:        52.52 + float64(i)*10/mPerDegLat,
				Lon:        13.405 + east/(mPerDegLat*math.Cos(52.52*math.Pi/180)),
			})
		}
		f.ingest(t, token, walk...)

		plan, err := f.svc.PlanRoute(d.ID, tracking.RouteQuery{SimplifyM: ptr(5.0)})
		if err != nil {
			t.Fatal(err)
		}
		var kept []time.Time
		page, err := f.svc.Route(context.Background(), ann, plan, func(l tracking.Location) error {
			kept = append(kept, l.RecordedAt)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []time.Time{base, base.Add(9 * time.Second), base.Add(10 * time.Second), base.Add(11 * time.Second), base.Add(20 * time.Second)}
		if len(kept) != len(want) {
			t.Fatalf("kept %v, want %v", kept, want)
		}
		for i := range want {
			if !kept[i].Equal(want[i]) {
				t.Errorf("kept[%d] = %v, want %v", i, kept[i], want[i])
			}
		}
		if page.Count != 5 || page.RawCount != 21 || !page.Simplified || page.NextCursor != "" {
			t.Errorf("page = %+v, want 5 of 21, simplified, no next cursor", page)
		}
	})
}

// TestRouteSimplifyBudget: a page on which Douglas–Peucker would be
// quadratic (a track swinging back and forth with shrinking amplitude) is
// returned as read, with Simplified false, instead of holding a core.
func TestRouteSimplifyBudget(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ann, d, token := f.annsDevice(t)
		const n = 2000 // (n-1)(n-2)/2 ≈ 2·10⁶ computations, past the budget of 5.2·10⁵
		base := now0.Add(-time.Hour)
		const mPerDegLat = 6371008.8 * math.Pi / 180
		track := make([]tracking.Location, n)
		for i := range track {
			north := float64(n-i) * 10
			if i%2 == 1 {
				north = -north
			}
			if i == 0 || i == n-1 {
				north = 0
			}
			track[i] = tracking.Location{RecordedAt: base.Add(time.Duration(i) * time.Second), Lat: 52.52 + north/mPerDegLat, Lon: 13.405}
		}
		f.ingest(t, token, track...)

		limit := n
		plan, err := f.svc.PlanRoute(d.ID, tracking.RouteQuery{SimplifyM: ptr(1.0), Limit: &limit})
		if err != nil {
			t.Fatal(err)
		}
		emitted := 0
		page, err := f.svc.Route(context.Background(), ann, plan, func(tracking.Location) error {
			emitted++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if page.Simplified || page.Count != n || page.RawCount != n || emitted != n {
			t.Errorf("page = %+v with %d points emitted, want all %d, not simplified", page, emitted, n)
		}
	})
}

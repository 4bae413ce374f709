package tracking_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// The tests of a device's stored history: reading it (route pages,
// exports, summaries) and deleting a range of it.

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
	svc := serviceWithoutDB(tracking.Config{MaxRouteSpan: 48 * time.Hour})
	at := func(d time.Duration) *time.Time { v := now0.Add(d); return &v }
	other := tracking.EncodeRouteCursor(tracking.RouteCursor{DeviceID: 8, From: *at(-time.Hour), To: now0, After: *at(-time.Minute)})
	mine := tracking.EncodeRouteCursor(tracking.RouteCursor{DeviceID: 7, From: *at(-time.Hour), To: now0, After: *at(-time.Minute)})

	t.Run("defaults", func(t *testing.T) {
		p, err := svc.PlanRoute(7, tracking.RouteQuery{})
		if err != nil || !p.To.Equal(now0) || !p.From.Equal(now0.Add(-24*time.Hour)) || p.Limit != 1000 || p.SimplifyM != 0 {
			t.Errorf("PlanRoute() = %+v, %v", p, err)
		}
		p, err = svc.PlanRoute(7, tracking.RouteQuery{To: at(-time.Hour)})
		if err != nil || !p.From.Equal(now0.Add(-25*time.Hour)) {
			t.Errorf("from defaults to to − 24h: %+v, %v", p, err)
		}
	})
	t.Run("the cursor's range is the default", func(t *testing.T) {
		p, err := svc.PlanRoute(7, tracking.RouteQuery{Cursor: mine})
		if err != nil || !p.From.Equal(now0.Add(-time.Hour)) || !p.To.Equal(now0) {
			t.Errorf("PlanRoute(cursor) = %+v, %v", p, err)
		}
		if _, err := svc.PlanRoute(7, tracking.RouteQuery{Cursor: mine, From: at(-time.Hour), To: at(0)}); err != nil {
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
			_, err := svc.PlanRoute(7, tc.q)
			var fe *errs.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.wantField || !errors.Is(err, errs.Invalid) {
				t.Errorf("PlanRoute() = %v, want a FieldError for %s", err, tc.wantField)
			}
		})
	}
	t.Run("span of exactly the maximum", func(t *testing.T) {
		if _, err := svc.PlanRoute(7, tracking.RouteQuery{From: at(-48 * time.Hour), To: at(0), Limit: ptr(10000), SimplifyM: ptr(1000.0)}); err != nil {
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

// TestExport: every point of the span, once, in order, with received_at;
// start first; nothing of another user's device.
func TestExport(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)
		bob := f.owner(t, "user_bob")
		_, bobToken := f.device(t, bob, "Rex")
		base := now0.Add(-40 * time.Hour).Add(7 * time.Millisecond)

		const n = 2300 // minutes: more than one batch, and reaching back past the default span's 24 hours
		var batch []tracking.Location
		for i := range n {
			batch = append(batch, fixAt(base.Add(time.Duration(i)*time.Minute), i))
			if len(batch) == tracking.MaxIngestPoints || i == n-1 {
				f.ingest(t, token, batch...)
				f.ingest(t, bobToken, batch...) // the same times on another device
				batch = nil
			}
		}

		export := func(owner int64, sp tracking.Span) ([]tracking.Location, []string, error) {
			var (
				points []tracking.Location
				calls  []string
			)
			err := f.svc.Export(ctx, owner, sp, func(dev tracking.Device) error {
				calls = append(calls, "start "+dev.Name)
				return nil
			}, func(l tracking.Location) error {
				if len(points) == 0 {
					calls = append(calls, "first point")
				}
				points = append(points, l)
				return nil
			})
			return points, calls, err
		}

		from, to := base, base.Add(n*time.Minute)
		sp, err := f.svc.PlanSpan(d.ID, &from, &to)
		if err != nil {
			t.Fatal(err)
		}
		points, calls, err := export(ann, sp)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || calls[0] != "start Bella" || calls[1] != "first point" {
			t.Errorf("calls %q, want start with the device, then the points", calls)
		}
		if len(points) != n {
			t.Fatalf("%d points, want %d", len(points), n)
		}
		for i, p := range points {
			if want := base.Add(time.Duration(i) * time.Minute); !p.RecordedAt.Equal(want) || p.Lat != fixAt(want, i).Lat {
				t.Fatalf("point %d: %v at %v, want %v", i, p.Lat, p.RecordedAt, want)
			}
			if !p.ReceivedAt.Equal(now0) {
				t.Fatalf("point %d received at %v, want %v", i, p.ReceivedAt, now0)
			}
		}

		// from inclusive, to exclusive; the default span is the last 24 hours.
		from, to = base.Add(time.Minute), base.Add(3*time.Minute)
		sp, _ = f.svc.PlanSpan(d.ID, &from, &to)
		if points, _, _ := export(ann, sp); len(points) != 2 || !points[0].RecordedAt.Equal(from) {
			t.Errorf("[from, to) of 3 minutes: %d points from %v, want 2 from %v", len(points), points, from)
		}
		sp, _ = f.svc.PlanSpan(d.ID, nil, nil)
		if points, _, _ := export(ann, sp); len(points) != n-16*60 {
			t.Errorf("default span: %d points, want the %d of the last 24 hours", len(points), n-16*60)
		}

		// Another user's device, or none: ErrDeviceNotFound before anything.
		for _, owner := range []int64{bob, 999999} {
			points, calls, err := export(owner, sp)
			if !errors.Is(err, tracking.ErrDeviceNotFound) || len(points) != 0 || len(calls) != 0 {
				t.Errorf("owner %d: %v with %d points and calls %q, want ErrDeviceNotFound and nothing", owner, err, len(points), calls)
			}
		}

		// An error of emit ends the export and comes back as is.
		stop := errors.New("client gone")
		seen := 0
		err = f.svc.Export(ctx, ann, sp, func(tracking.Device) error { return nil }, func(tracking.Location) error {
			seen++
			if seen == 10 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || seen != 10 {
			t.Errorf("Export after an emit error = %v after %d points, want the error after 10", err, seen)
		}
		if err := f.svc.Export(ctx, ann, sp, func(tracking.Device) error { return stop }, func(tracking.Location) error {
			t.Error("emit called after start failed")
			return nil
		}); !errors.Is(err, stop) {
			t.Errorf("Export after a start error = %v", err)
		}
	})
}

// TestPlanSpan applies the route's range rules.
func TestPlanSpan(t *testing.T) {
	svc := tracking.NewService(nil, tracking.Config{MaxRouteSpan: 48 * time.Hour, Now: func() time.Time { return now0 }})
	at := func(d time.Duration) *time.Time { v := now0.Add(d); return &v }
	sp, err := svc.PlanSpan(7, nil, nil)
	if err != nil || sp.DeviceID != 7 || !sp.To.Equal(now0) || !sp.From.Equal(now0.Add(-24*time.Hour)) {
		t.Errorf("defaults: %+v, %v; want the last 24 hours", sp, err)
	}
	for _, tc := range []struct {
		name     string
		from, to *time.Time
	}{
		{"from after to", at(0), at(-time.Hour)},
		{"from equal to", at(0), at(0)},
		{"span over the maximum", at(-49 * time.Hour), at(0)},
	} {
		var fe *errs.FieldError
		if _, err := svc.PlanSpan(7, tc.from, tc.to); !errors.As(err, &fe) || fe.Field != "from" {
			t.Errorf("%s: %v, want an *errs.FieldError for from", tc.name, err)
		}
	}
	if _, err := svc.PlanSpan(7, at(-48*time.Hour), at(0)); err != nil {
		t.Errorf("a span of exactly the maximum: %v", err)
	}
}

// TestSummary: points, distance along a known polyline, times, top speed
// and the bounding box, read from the database.
func TestSummary(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)
		bob := f.owner(t, "user_bob")
		base := now0.Add(-time.Hour)

		// Along the meridian 13.4° E: north 0.1°, north 0.2°, back south
		// 0.1°, 0.4° in all; each 0.1° of a meridian is R·π/1800 on the sphere.
		polyline := []tracking.Location{
			{RecordedAt: base, Lat: 52.0, Lon: 13.4, SpeedMPS: ptr(1.5)},
			{RecordedAt: base.Add(time.Minute), Lat: 52.1, Lon: 13.4},
			{RecordedAt: base.Add(2 * time.Minute), Lat: 52.3, Lon: 13.4, SpeedMPS: ptr(12.25)},
			{RecordedAt: base.Add(3 * time.Minute), Lat: 52.2, Lon: 13.4, SpeedMPS: ptr(3.0)},
		}
		// Ingested out of order: the summary follows recorded_at.
		f.ingest(t, token, polyline[2], polyline[0], polyline[3], polyline[1])

		from, to := base.Add(-time.Minute), base.Add(time.Hour)
		sp, err := f.svc.PlanSpan(d.ID, &from, &to)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Summary(ctx, ann, sp)
		if err != nil {
			t.Fatal(err)
		}
		const earthRadiusM = 6371008.8
		wantDistance := earthRadiusM * 0.4 * math.Pi / 180 // 44,478 m
		switch {
		case got.Span != sp || got.Points != 4:
			t.Errorf("span %+v, %d points; want %+v, 4", got.Span, got.Points, sp)
		case math.Abs(got.DistanceM-wantDistance) > 1e-6:
			t.Errorf("distance %.9f m, want %.9f", got.DistanceM, wantDistance)
		case got.FirstRecordedAt == nil || !got.FirstRecordedAt.Equal(base) || got.LastRecordedAt == nil || !got.LastRecordedAt.Equal(base.Add(3*time.Minute)):
			t.Errorf("first %v, last %v; want %v, %v", got.FirstRecordedAt, got.LastRecordedAt, base, base.Add(3*time.Minute))
		case got.MaxSpeedMPS == nil || *got.MaxSpeedMPS != 12.25:
			t.Errorf("max speed %v, want 12.25", got.MaxSpeedMPS)
		case got.BBox == nil || *got.BBox != [4]float64{13.4, 52.0, 13.4, 52.3}:
			t.Errorf("bbox %v, want [13.4 52 13.4 52.3]", got.BBox)
		}

		// A span without points; a span of one point; speeds all unknown.
		empty, _ := f.svc.PlanSpan(d.ID, ptr(base.Add(-2*time.Hour)), ptr(base.Add(-time.Hour)))
		if got, err := f.svc.Summary(ctx, ann, empty); err != nil || got.Points != 0 || got.DistanceM != 0 ||
			got.FirstRecordedAt != nil || got.LastRecordedAt != nil || got.MaxSpeedMPS != nil || got.BBox != nil {
			t.Errorf("empty span: %+v, %v; want zeros and nils", got, err)
		}
		one, _ := f.svc.PlanSpan(d.ID, ptr(base.Add(time.Minute)), ptr(base.Add(2*time.Minute)))
		if got, err := f.svc.Summary(ctx, ann, one); err != nil || got.Points != 1 || got.DistanceM != 0 ||
			got.MaxSpeedMPS != nil || got.BBox == nil || *got.BBox != [4]float64{13.4, 52.1, 13.4, 52.1} {
			t.Errorf("one point: %+v, %v", got, err)
		}

		if _, err := f.svc.Summary(ctx, bob, sp); !errors.Is(err, tracking.ErrDeviceNotFound) {
			t.Errorf("another user's device: %v, want ErrDeviceNotFound", err)
		}
	})
}

// TestGreatCircleM against known distances and against an independent
// formula (the chord between unit vectors).
func TestGreatCircleM(t *testing.T) {
	const r = 6371008.8
	for _, tc := range []struct {
		name string
		a, b [2]float64
		want float64
	}{
		{"one degree of the equator", [2]float64{0, 1}, [2]float64{0, 2}, r * math.Pi / 180},
		{"pole to pole", [2]float64{90, 0}, [2]float64{-90, 0}, r * math.Pi},
		{"antipodes on the equator", [2]float64{0, -90}, [2]float64{0, 90}, r * math.Pi},
		{"across the antimeridian", [2]float64{0, 179.5}, [2]float64{0, -179.5}, r * math.Pi / 180},
		{"the same point", [2]float64{52.52, 13.4}, [2]float64{52.52, 13.4}, 0},
	} {
		if got := tracking.GreatCircleM(tc.a, tc.b); math.Abs(got-tc.want) > 1e-6*max(1, tc.want) {
			t.Errorf("%s: %.6f, want %.6f", tc.name, got, tc.want)
		}
	}
	chord := func(a, b [2]float64) float64 {
		v := func(p [2]float64) [3]float64 {
			lat, lon := p[0]*math.Pi/180, p[1]*math.Pi/180
			return [3]float64{math.Cos(lat) * math.Cos(lon), math.Cos(lat) * math.Sin(lon), math.Sin(lat)}
		}
		x, y := v(a), v(b)
		c := math.Sqrt((x[0]-y[0])*(x[0]-y[0]) + (x[1]-y[1])*(x[1]-y[1]) + (x[2]-y[2])*(x[2]-y[2]))
		return 2 * r * math.Asin(c/2)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		a := [2]float64{rng.Float64()*180 - 90, rng.Float64()*360 - 180}
		b := [2]float64{a[0] + (rng.Float64()-0.5)*2, a[1] + (rng.Float64()-0.5)*2}
		b[0] = max(-90, min(90, b[0]))
		if got, want := tracking.GreatCircleM(a, b), chord(a, b); math.Abs(got-want) > 1e-3 {
			t.Fatalf("%v → %v: %.6f m, the chord formula says %.6f", a, b, got, want)
		}
	}
}

// TestDeleteLocations: the owner deletes a range of a device's history;
// the bounds are inclusive and exclusive at the nanosecond given; the
// device's last location follows when its newest fix goes, and other
// devices and users are untouched.
func TestDeleteLocations(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)
		bob := f.owner(t, "user_bob")
		other, otherToken := f.device(t, ann, "Spare")
		bobs, bobToken := f.device(t, bob, "Bob's")
		base := now0.Add(-time.Hour).Add(250 * time.Millisecond)
		var pts []tracking.Location
		for i := range 10 {
			pts = append(pts, fixAt(base.Add(time.Duration(i)*time.Minute), i))
		}
		f.ingest(t, token, pts...)
		f.ingest(t, otherToken, pts...)
		f.ingest(t, bobToken, pts...)
		at := func(i int) time.Time { return pts[i].RecordedAt }
		del := func(owner, device int64, from, to time.Time) tracking.LocationsDeleted {
			t.Helper()
			res, err := f.svc.DeleteLocations(ctx, owner, device, tracking.DeleteRange{From: &from, To: &to})
			if err != nil {
				t.Fatalf("DeleteLocations(%v, %v): %v", from, to, err)
			}
			return res
		}
		remaining := func(device int64) []int {
			t.Helper()
			from, to := base.Add(-time.Minute), base.Add(time.Hour)
			var out []int
			for _, l := range f.routeOf(t, device, from, to) {
				for i, p := range pts {
					if l.RecordedAt.Equal(p.RecordedAt) {
						out = append(out, i)
					}
				}
			}
			return out
		}

		// [from, to) to the nanosecond: from a nanosecond after point 1
		// spares it; to a nanosecond after point 4 takes it.
		res := del(ann, d.ID, at(1).Add(time.Nanosecond), at(4).Add(time.Nanosecond))
		if want := (tracking.LocationsDeleted{DeviceID: d.ID, Deleted: 3}); !cmp.Equal(want, res) {
			t.Errorf("deleting points 2–4 = %+v, want %+v", res, want)
		}
		if diff := cmp.Diff([]int{0, 1, 5, 6, 7, 8, 9}, remaining(d.ID)); diff != "" {
			t.Errorf("points left (-want +got):\n%s", diff)
		}
		// from on a point takes it; to on a point spares it.
		res = del(ann, d.ID, at(5), at(6))
		if res.Deleted != 1 || res.LatestChanged {
			t.Errorf("deleting point 5 = %+v, want 1 deleted, latest unchanged", res)
		}
		if got, err := f.svc.GetDevice(ctx, ann, d.ID); err != nil || !got.LastLocation.RecordedAt.Equal(at(9)) {
			t.Errorf("after deleting older points, latest = %+v, %v; want point 9", got.LastLocation, err)
		}

		// to on the newest fix spares it.
		if res := del(ann, d.ID, at(7), at(9)); res.Deleted != 2 || res.LatestChanged {
			t.Errorf("deleting points 7–8 = %+v, want 2 deleted, latest unchanged", res)
		}

		// The newest fix goes: the newest remaining point becomes latest,
		// every column of it.
		markAttributes(t, f.db, d.ID, at(6))
		res = del(ann, d.ID, at(9), at(9).Add(time.Hour))
		if res.Deleted != 1 || !res.LatestChanged || res.Latest == nil || !res.Latest.RecordedAt.Equal(at(6)) || res.Latest.Lat != pts[6].Lat {
			t.Fatalf("deleting the newest fix = %+v (latest %+v), want latest point 6", res, res.Latest)
		}
		if res.Latest.ReceivedAt.IsZero() {
			t.Error("the new latest has no received_at")
		}
		wantSameFix(t, f.db, d.ID, at(6))
		got, err := f.svc.GetDevice(ctx, ann, d.ID)
		if err != nil || !cmp.Equal(got.LastLocation, res.Latest) {
			t.Errorf("GetDevice after the delete: %+v, %v; want the returned latest %+v", got.LastLocation, err, res.Latest)
		}
		if got.LastSeenAt == nil {
			t.Error("last_seen_at was cleared: it is when the device reported, not a location")
		}

		// Everything goes: no latest.
		res = del(ann, d.ID, base.Add(-24*time.Hour), now0.Add(time.Hour))
		if res.Deleted != 3 || !res.LatestChanged || res.Latest != nil {
			t.Errorf("deleting everything = %+v, want 3 deleted, latest nil", res)
		}
		if got, err := f.svc.GetDevice(ctx, ann, d.ID); err != nil || got.LastLocation != nil {
			t.Errorf("after deleting everything, latest = %+v, %v; want none", got.LastLocation, err)
		}
		wantSameFix(t, f.db, d.ID, time.Time{})
		// Nothing left to delete: 0, and nothing changes.
		if res := del(ann, d.ID, base, now0); res.Deleted != 0 || res.LatestChanged {
			t.Errorf("deleting an empty range = %+v", res)
		}
		// A late, older fix after the delete becomes latest again: there is no newer one.
		f.ingest(t, token, pts[3])
		if got, _ := f.svc.GetDevice(ctx, ann, d.ID); got.LastLocation == nil || !got.LastLocation.RecordedAt.Equal(at(3)) {
			t.Errorf("after re-ingesting point 3, latest = %+v", got.LastLocation)
		}

		// Other devices, and another user's, are untouched; Bob's device is
		// not Ann's to delete from.
		if n := len(remaining(other.ID)); n != 10 {
			t.Errorf("Ann's other device has %d points, want 10", n)
		}
		from, to := base.Add(-time.Hour), now0
		if _, err := f.svc.DeleteLocations(ctx, ann, bobs.ID, tracking.DeleteRange{From: &from, To: &to}); !errors.Is(err, tracking.ErrDeviceNotFound) {
			t.Errorf("deleting from another user's device: %v, want ErrDeviceNotFound", err)
		}
		if n := len(remaining(bobs.ID)); n != 10 {
			t.Errorf("Bob's device has %d points after Ann's attempt, want 10", n)
		}
	})
}

func TestDeleteRangeCheck(t *testing.T) {
	svc := serviceWithoutDB(tracking.Config{})
	t0 := now0
	t1 := now0.Add(time.Nanosecond)
	for _, tc := range []struct {
		name  string
		r     tracking.DeleteRange
		field string
	}{
		{"no from", tracking.DeleteRange{To: &t1}, "from"},
		{"no to", tracking.DeleteRange{From: &t0}, "to"},
		{"from = to", tracking.DeleteRange{From: &t0, To: &t0}, "from"},
		{"from after to", tracking.DeleteRange{From: &t1, To: &t0}, "from"},
	} {
		_, err := svc.DeleteLocations(context.Background(), 1, 1, tc.r)
		var fe *errs.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, errs.Invalid) {
			t.Errorf("%s: %v, want a FieldError on %s", tc.name, err, tc.field)
		}
	}
	if err := (tracking.DeleteRange{From: &t0, To: &t1}).Check(); err != nil {
		t.Errorf("a nanosecond-wide range: %v", err)
	}
}

// routeOf reads the device's whole route in [from, to) as its owner would,
// without knowing the owner: through the device row.
func (f *fixture) routeOf(t *testing.T, device int64, from, to time.Time) []tracking.Location {
	t.Helper()
	var owner int64
	if err := f.db.NewRaw("SELECT user_id FROM devices WHERE id = ?", device).Scan(context.Background(), &owner); err != nil {
		t.Fatal(err)
	}
	points, _ := f.route(t, owner, device, tracking.RouteQuery{From: &from, To: &to, Limit: ptr(tracking.MaxRouteLimit)})
	return points
}

// markAttributes gives the stored point at `at` a value in every optional
// column, so that copying it as the last location can be checked whole.
func markAttributes(t *testing.T, db *bun.DB, device int64, at time.Time) {
	t.Helper()
	_, err := db.NewRaw(`UPDATE locations SET accuracy_m = 3.5, altitude_m = 41.25, speed_mps = 1.5, course_deg = 90,
		battery_pct = 42, motion = ?, odometer_m = 1234.5, charging = ?, activity = 'walking', event = 'motionchange', alarm = 'sos'
		WHERE device_id = ? AND recorded_at = ?`, true, false, device, at.UnixMilli()).Exec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
}

// wantSameFix checks that every column of the device's last fix holds the
// stored point recorded at `at` (every one null for the zero time): each
// column of locations but device_id has its namesake on devices, with
// recorded_at and received_at as last_recorded_at and last_received_at.
func wantSameFix(t *testing.T, db *bun.DB, device int64, at time.Time) {
	t.Helper()
	ctx := context.Background()
	dev := map[string]any{}
	if err := db.NewRaw("SELECT * FROM devices WHERE id = ?", device).Scan(ctx, &dev); err != nil {
		t.Fatal(err)
	}
	point := map[string]any{}
	if !at.IsZero() {
		if err := db.NewRaw("SELECT * FROM locations WHERE device_id = ? AND recorded_at = ?", device, at.UnixMilli()).Scan(ctx, &point); err != nil {
			t.Fatal(err)
		}
	} else {
		var cols []string
		if err := db.NewRaw("SELECT * FROM locations LIMIT 1").Scan(ctx, &point); err == nil {
			for c := range point {
				cols = append(cols, c)
			}
		}
		for _, c := range cols {
			point[c] = nil
		}
		if len(cols) == 0 {
			t.Fatal("no point left anywhere to learn the columns of locations from")
		}
	}
	for col, want := range point {
		name := col
		switch col {
		case "device_id":
			continue
		case "recorded_at", "received_at":
			name = "last_" + col
		}
		got, ok := dev[name]
		if !ok {
			t.Errorf("devices has no column %s for locations.%s", name, col)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("devices.%s = %v, want %v (locations.%s)", name, got, want, col)
		}
	}
}

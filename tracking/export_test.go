package tracking_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// TestExport: every point of the span, once, in order, with received_at;
// start first; nothing of another user's device.
func TestExport(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, bob := f.owner(t, "user_ann"), f.owner(t, "user_bob")
		d, token := f.device(t, ann, "Bella")
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
		ann, bob := f.owner(t, "user_ann"), f.owner(t, "user_bob")
		d, token := f.device(t, ann, "Bella")
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

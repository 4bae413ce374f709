package tracking_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

func TestIngestCountsAndDuplicates(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)
		base := now0.Add(-time.Hour)

		first := f.ingest(t, token,
			fixAt(base, 1),
			fixAt(base.Add(time.Second), 2),
			fixAt(base.Add(time.Second+300*time.Microsecond), 99), // the same millisecond: a duplicate in the batch
			tracking.Location{RecordedAt: base, Lat: 91, Lon: 0},  // invalid
			fixAt(base.Add(2*time.Second), 3),
		)
		want := tracking.IngestResult{DeviceID: d.ID, Stored: 3, Duplicates: 1}
		if diff := cmp.Diff(want, first, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Rejected" }, cmp.Ignore())); diff != "" {
			t.Errorf("first batch (-want +got):\n%s", diff)
		}
		if len(first.Rejected) != 1 || first.Rejected[0].Index != 3 || first.Rejected[0].Err.Error() != "lat: must be between -90 and 90" {
			t.Errorf("rejected = %+v, want index 3 for lat", first.Rejected)
		}

		// A retry of the same batch, and an overlap: the first write wins.
		retry := f.ingest(t, token, fixAt(base, 50), fixAt(base.Add(time.Second), 51), fixAt(base.Add(3*time.Second), 4))
		if retry.Stored != 1 || retry.Duplicates != 2 || len(retry.Rejected) != 0 {
			t.Errorf("overlapping batch = %+v, want 1 stored, 2 duplicates", retry)
		}

		got, _ := f.route(t, ann, d.ID, tracking.RouteQuery{})
		wantLats := []float64{fixAt(base, 1).Lat, fixAt(base, 2).Lat, fixAt(base, 3).Lat, fixAt(base, 4).Lat}
		var lats []float64
		for _, l := range got {
			lats = append(lats, l.Lat)
		}
		if diff := cmp.Diff(wantLats, lats); diff != "" {
			t.Errorf("stored points (-want +got):\n%s", diff)
		}
		if _, err := f.svc.Authenticate(ctx, "353861053849681"); !errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("an IMEI as the token: %v, want ErrInvalidToken", err)
		}
		if _, err := f.svc.Authenticate(ctx, "trk_00000000000000000000000000"); !errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("an unknown token: %v, want ErrInvalidToken", err)
		}
		// A device deleted between Authenticate and Ingest: its token no longer works.
		if err := f.svc.DeleteDevice(ctx, ann, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Ingest(ctx, d.ID, []tracking.Location{fixAt(base, 0)}); !errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("ingest for a deleted device: %v, want ErrInvalidToken", err)
		}
	})
}

// TestLateOlderFixDoesNotMoveLatest: the device's last fix is the newest by
// recorded_at; an older fix arriving later is stored and still marks the
// device as seen.
func TestLateOlderFixDoesNotMoveLatest(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)

		newer := fixAt(now0.Add(-time.Minute), 1)
		newer.SpeedMPS, newer.BatteryPct = ptr(1.5), ptr(80.0)
		f.ingest(t, token, newer)
		f.clock.Add(time.Minute)
		f.ingest(t, token, fixAt(now0.Add(-time.Hour), 2))

		got, err := f.svc.GetDevice(ctx, ann, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := &tracking.Location{
			RecordedAt: newer.RecordedAt, ReceivedAt: now0,
			Lat: newer.Lat, Lon: newer.Lon, SpeedMPS: ptr(1.5), BatteryPct: ptr(80.0),
		}
		if diff := cmp.Diff(want, got.LastLocation); diff != "" {
			t.Errorf("last location after a late older fix (-want +got):\n%s", diff)
		}
		if got.LastSeenAt == nil || !got.LastSeenAt.Equal(now0.Add(time.Minute)) {
			t.Errorf("last_seen_at = %v, want the late report's time %v", got.LastSeenAt, now0.Add(time.Minute))
		}
		if points, _ := f.route(t, ann, d.ID, tracking.RouteQuery{}); len(points) != 2 {
			t.Errorf("route has %d points, want both", len(points))
		}

		// A newer fix does move it; a batch of only duplicates and rejects
		// still counts as a report.
		f.clock.Add(time.Minute)
		f.ingest(t, token, fixAt(now0.Add(30*time.Second), 3))
		f.clock.Add(time.Minute)
		f.ingest(t, token, fixAt(now0.Add(30*time.Second), 4), tracking.Location{Lat: math.NaN()})
		got, _ = f.svc.GetDevice(ctx, ann, d.ID)
		if got.LastLocation == nil || got.LastLocation.Lat != fixAt(now0, 3).Lat || !got.LastLocation.ReceivedAt.Equal(now0.Add(2*time.Minute)) {
			t.Errorf("last location after a newer fix = %+v", got.LastLocation)
		}
		if !got.LastSeenAt.Equal(now0.Add(3 * time.Minute)) {
			t.Errorf("last_seen_at = %v, want %v", got.LastSeenAt, now0.Add(3*time.Minute))
		}
	})
}

// TestConcurrentIngestKeepsNewestFix: batches for one device racing each
// other end with the newest fix of all on the device, and every point once.
func TestConcurrentIngestKeepsNewestFix(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, _ := f.annsDevice(t)
		base := now0.Add(-2 * time.Hour)

		const batches, size = 8, 50
		var wg sync.WaitGroup
		for b := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var points []tracking.Location
				for i := range size {
					// Interleaved and overlapping: batch b holds points b, b+8, …, and its neighbour's.
					n := b + i*batches
					points = append(points, fixAt(base.Add(time.Duration(n)*time.Second), n))
					points = append(points, fixAt(base.Add(time.Duration(n+1)*time.Second), n+1))
				}
				if _, err := f.svc.Ingest(ctx, d.ID, points); err != nil {
					t.Errorf("batch %d: %v", b, err)
				}
			}()
		}
		wg.Wait()
		points, _ := f.route(t, ann, d.ID, tracking.RouteQuery{})
		if want := batches*size + 1; len(points) != want {
			t.Errorf("%d points stored, want %d", len(points), want)
		}
		got, _ := f.svc.GetDevice(ctx, ann, d.ID)
		newest := base.Add(batches * size * time.Second)
		if got.LastLocation == nil || !got.LastLocation.RecordedAt.Equal(newest) {
			t.Errorf("last fix = %+v, want the newest at %v", got.LastLocation, newest)
		}
	})
}

// TestIngestValidation applies "Point validation" rule by rule: what is
// stored, what becomes null, and what is rejected with which field.
func TestIngestValidation(t *testing.T) {
	eachFixture(t, tracking.Config{Limits: tracking.Limits{MaxAge: 30 * 24 * time.Hour}}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann := f.owner(t, "user_ann")
		berlin := time.FixedZone("CET", 3600)

		tests := []struct {
			name      string
			in        tracking.Location
			wantField string             // rejected for this field; "" when stored
			want      *tracking.Location // as stored, when not rejected
		}{
			{name: "zone and sub-millisecond", in: tracking.Location{RecordedAt: now0.Add(-time.Hour + 123456789).In(berlin), Lat: 1, Lon: 2},
				want: &tracking.Location{RecordedAt: now0.Add(-time.Hour + 123000000), Lat: 1, Lon: 2}},
			{name: "10 minutes ahead", in: tracking.Location{RecordedAt: now0.Add(10 * time.Minute), Lat: 1, Lon: 2},
				want: &tracking.Location{RecordedAt: now0.Add(10 * time.Minute), Lat: 1, Lon: 2}},
			{name: "too far ahead", in: tracking.Location{RecordedAt: now0.Add(10*time.Minute + time.Millisecond), Lat: 1, Lon: 2}, wantField: "recorded_at"},
			{name: "older than LOCATION_MAX_AGE", in: tracking.Location{RecordedAt: now0.Add(-30*24*time.Hour - time.Millisecond), Lat: 1, Lon: 2}, wantField: "recorded_at"},
			{name: "lat 91", in: tracking.Location{RecordedAt: now0, Lat: 91, Lon: 2}, wantField: "lat"},
			{name: "lat NaN", in: tracking.Location{RecordedAt: now0, Lat: math.NaN(), Lon: 2}, wantField: "lat"},
			{name: "lon -180.5", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: -180.5}, wantField: "lon"},
			{name: "lon +Inf", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: math.Inf(1)}, wantField: "lon"},
			{name: "null island", in: tracking.Location{RecordedAt: now0, Lat: 0, Lon: 0}, wantField: "lat/lon"},
			{name: "sentinels become null, course 360 becomes 0",
				in:   tracking.Location{RecordedAt: now0, Lat: -90, Lon: 180, AccuracyM: ptr(-1.0), SpeedMPS: ptr(-1.0), CourseDeg: ptr(360.0)},
				want: &tracking.Location{RecordedAt: now0, Lat: -90, Lon: 180, CourseDeg: ptr(0.0)}},
			{name: "negative course is unknown", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, CourseDeg: ptr(-5.0)},
				want: &tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2}},
			{name: "speed 350", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, SpeedMPS: ptr(350.0)},
				want: &tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, SpeedMPS: ptr(350.0)}},
			{name: "speed 350.1", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, SpeedMPS: ptr(350.1)}, wantField: "speed_mps"},
			{name: "course 361", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, CourseDeg: ptr(361.0)}, wantField: "course_deg"},
			{name: "altitude bounds", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, AltitudeM: ptr(-1000.0), BatteryPct: ptr(0.0)},
				want: &tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, AltitudeM: ptr(-1000.0), BatteryPct: ptr(0.0)}},
			{name: "altitude -1000.5", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, AltitudeM: ptr(-1000.5)}, wantField: "altitude_m"},
			{name: "altitude 100001", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, AltitudeM: ptr(100001.0)}, wantField: "altitude_m"},
			{name: "battery 100", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, BatteryPct: ptr(100.0), AccuracyM: ptr(4.8)},
				want: &tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, BatteryPct: ptr(100.0), AccuracyM: ptr(4.8)}},
			{name: "battery 101", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, BatteryPct: ptr(101.0)}, wantField: "battery_pct"},
			{name: "battery -1", in: tracking.Location{RecordedAt: now0, Lat: 1, Lon: 2, BatteryPct: ptr(-1.0)}, wantField: "battery_pct"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				// A device per case: each case's point is the device's only one.
				d, token := f.device(t, ann, tt.name)
				res := f.ingest(t, token, tt.in)
				if tt.wantField != "" {
					var fe *errs.FieldError
					if res.Stored != 0 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 ||
						!errors.As(res.Rejected[0].Err, &fe) || fe.Field != tt.wantField {
						t.Errorf("Ingest = %+v, want point 0 rejected for %s", res, tt.wantField)
					}
					return
				}
				if res.Stored != 1 || len(res.Rejected) != 0 {
					t.Fatalf("Ingest = %+v, want the point stored", res)
				}
				got, err := f.svc.GetDevice(ctx, ann, d.ID)
				if err != nil {
					t.Fatal(err)
				}
				want := *tt.want
				want.ReceivedAt = now0
				if diff := cmp.Diff(&want, got.LastLocation); diff != "" {
					t.Errorf("stored (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestAttributesRoundTrip: the attributes of a fix are stored with it and
// read back by every read (route, the device's newest fix, export), on
// both databases (SQLite keeps booleans as 0/1); the newest fix carries
// its own attributes, nulls included.
func TestAttributesRoundTrip(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)
		base := now0.Add(-time.Hour)

		sos := fixAt(base, 1)
		sos.Attributes = tracking.Attributes{Motion: ptr(true), OdometerM: ptr(12345.6), Charging: ptr(false),
			Activity: ptr("on_foot"), Event: ptr(" motionchange "), Alarm: ptr("sos")}
		still := fixAt(base.Add(time.Second), 2)
		still.Attributes = tracking.Attributes{Motion: ptr(false), Charging: ptr(true)}
		plain := fixAt(base.Add(2*time.Second), 3)

		want := func(l tracking.Location) tracking.Location {
			t.Helper()
			if err := l.Normalize(f.clock.Now(), tracking.Limits{}); err != nil {
				t.Fatal(err)
			}
			return l
		}
		// The newest fix carries its own attributes: every one, some, none.
		for i, fix := range []tracking.Location{sos, still, plain} {
			f.ingest(t, token, fix)
			got, err := f.svc.GetDevice(ctx, ann, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantFix := want(fix)
			wantFix.ReceivedAt = now0
			if diff := cmp.Diff(&wantFix, got.LastLocation); diff != "" {
				t.Errorf("newest fix after ingest %d (-want +got):\n%s", i+1, diff)
			}
		}

		route, _ := f.route(t, ann, d.ID, tracking.RouteQuery{})
		if diff := cmp.Diff([]tracking.Location{want(sos), want(still), want(plain)}, route); diff != "" {
			t.Errorf("route (-want +got):\n%s", diff)
		}
		if *route[0].Event != "motionchange" {
			t.Errorf("event %q, want it trimmed", *route[0].Event)
		}

		sp, err := f.svc.PlanSpan(d.ID, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var exported []tracking.Location
		err = f.svc.Export(ctx, ann, sp, func(tracking.Device) error { return nil }, func(l tracking.Location) error {
			exported = append(exported, l)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := range route {
			route[i].ReceivedAt = now0
		}
		if diff := cmp.Diff(route, exported); diff != "" {
			t.Errorf("export (-route +export):\n%s", diff)
		}
	})
}

// TestIngestWithoutPoints: a report without a fix (a heartbeat) marks the
// device seen and stores nothing.
func TestIngestWithoutPoints(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ann, d, token := f.annsDevice(t)
		res := f.ingest(t, token)
		if res.DeviceID != d.ID || res.Stored != 0 || res.Duplicates != 0 || len(res.Rejected) != 0 {
			t.Errorf("Ingest() = %+v, want nothing stored for device %d", res, d.ID)
		}
		got, err := f.svc.GetDevice(context.Background(), ann, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastSeenAt == nil || !got.LastSeenAt.Equal(now0) || got.LastLocation != nil || got.Status != tracking.StatusOnline {
			t.Errorf("after a heartbeat: last seen %v, last location %v, status %s; want now, none, online", got.LastSeenAt, got.LastLocation, got.Status)
		}
	})
}

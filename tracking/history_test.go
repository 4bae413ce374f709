package tracking_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// TestDeleteLocations: the owner deletes a range of a device's history;
// the bounds are inclusive and exclusive at the nanosecond given; the
// device's last location follows when its newest fix goes, and other
// devices and users are untouched.
func TestDeleteLocations(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, bob := f.owner(t, "user_ann"), f.owner(t, "user_bob")
		d, token := f.device(t, ann, "Bella")
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
	f := newFixture(t, nil, tracking.Config{})
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
		_, err := f.svc.DeleteLocations(context.Background(), 1, 1, tc.r)
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

package tracking_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/tracking"
)

// ingestCall is one Ingest of a group and what it returned.
type ingestCall struct {
	device int64
	points []tracking.Location
	res    tracking.IngestResult
	err    error
}

// ingestGroup makes calls one group of f.svc's committer (dbtest.Group);
// fill is a device whose ingests occupy the workers meanwhile.
func ingestGroup(t *testing.T, f *fixture, fill int64, calls ...*ingestCall) {
	t.Helper()
	fns := make([]func(), len(calls))
	for i, c := range calls {
		fns[i] = func() { c.res, c.err = f.svc.Ingest(context.Background(), c.device, c.points) }
	}
	fillCall := func(i int) {
		if _, err := f.svc.Ingest(context.Background(), fill, []tracking.Location{fixAt(now0.Add(-time.Duration(i+1)*time.Hour), i)}); err != nil {
			t.Errorf("fill ingest: %v", err)
		}
	}
	dbtest.Group(t, f.db, "devices", f.svc.GroupWorkers(), f.svc.GroupLoad, fillCall, fns...)
}

// TestIngestGroup: ingests of several devices committed as one group each
// get their own outcome: two ingests of one device are applied in arrival
// order, a deleted device fails alone, a fix older than the device's does
// not replace it; every device with a new newest fix is published once
// per move, after the commit.
func TestIngestGroup(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		hub := live.NewHub(10, 10)
		f := newFixture(t, db, tracking.Config{Feed: &live.Feed{Hub: hub}})
		ctx := context.Background()
		ann := f.owner(t, "user_ann")
		sub, err := hub.Subscribe(ann)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := f.device(t, ann, "A")
		b, _ := f.device(t, ann, "B")
		gone, _ := f.device(t, ann, "Gone")
		late, lateToken := f.device(t, ann, "Late")
		fill, _ := f.device(t, ann, "Fill")
		base := now0.Add(-10 * time.Minute)
		f.ingest(t, lateToken, fixAt(base.Add(time.Minute), 7))
		if err := f.svc.DeleteDevice(ctx, ann, gone.ID); err != nil {
			t.Fatal(err)
		}
		drain(sub)
		f.clock.Add(time.Minute)

		a1 := &ingestCall{device: a.ID, points: []tracking.Location{fixAt(base, 1), fixAt(base.Add(time.Second), 2)}}
		bOnly := &ingestCall{device: b.ID, points: []tracking.Location{fixAt(base, 3)}}
		a2 := &ingestCall{device: a.ID, points: []tracking.Location{fixAt(base.Add(time.Second), 99), fixAt(base.Add(2*time.Second), 4)}}
		goneCall := &ingestCall{device: gone.ID, points: []tracking.Location{fixAt(base, 5)}}
		older := &ingestCall{device: late.ID, points: []tracking.Location{fixAt(base, 6)}}
		ingestGroup(t, f, fill.ID, a1, bOnly, a2, goneCall, older)

		for _, c := range []struct {
			name string
			call *ingestCall
			want tracking.IngestResult
		}{
			{"first of A", a1, tracking.IngestResult{DeviceID: a.ID, Stored: 2}},
			{"B", bOnly, tracking.IngestResult{DeviceID: b.ID, Stored: 1}},
			{"second of A, after the first", a2, tracking.IngestResult{DeviceID: a.ID, Stored: 1, Duplicates: 1}},
			{"an older point of Late", older, tracking.IngestResult{DeviceID: late.ID, Stored: 1}},
		} {
			if c.call.err != nil {
				t.Errorf("%s: %v", c.name, c.call.err)
			} else if diff := cmp.Diff(c.want, c.call.res); diff != "" {
				t.Errorf("%s (-want +got):\n%s", c.name, diff)
			}
		}
		if !errors.Is(goneCall.err, tracking.ErrInvalidToken) {
			t.Errorf("a deleted device in the group: %+v, %v; want ErrInvalidToken", goneCall.res, goneCall.err)
		}

		seen := now0.Add(time.Minute)
		for _, want := range []struct {
			device int64
			fix    tracking.Location
		}{{a.ID, fixAt(base.Add(2*time.Second), 4)}, {b.ID, fixAt(base, 3)}, {late.ID, fixAt(base.Add(time.Minute), 7)}} {
			got, err := f.svc.GetDevice(ctx, ann, want.device)
			if err != nil {
				t.Fatal(err)
			}
			if got.LastLocation == nil || !got.LastLocation.RecordedAt.Equal(want.fix.RecordedAt) || got.LastLocation.Lat != want.fix.Lat {
				t.Errorf("device %d fix = %+v, want %v at %v", want.device, got.LastLocation, want.fix.Lat, want.fix.RecordedAt)
			}
			if got.LastSeenAt == nil || !got.LastSeenAt.Equal(seen) {
				t.Errorf("device %d last seen %v, want %v", want.device, got.LastSeenAt, seen)
			}
		}

		// Each change carries its points, as a read of its range gives them.
		type change struct {
			Kind                   live.Kind
			User, Device, From, To int64
			Points                 []tracking.Location
		}
		ms := func(t time.Time) int64 { return t.UnixMilli() }
		fix := func(at time.Time, n int) tracking.Location {
			l := fixAt(at, n)
			l.ReceivedAt = now0.Add(time.Minute)
			return l
		}
		want := []change{
			{live.Location, ann, a.ID, 0, ms(base.Add(time.Second)), []tracking.Location{fix(base, 1), fix(base.Add(time.Second), 2)}},
			{live.Location, ann, b.ID, 0, ms(base), []tracking.Location{fix(base, 3)}},
			{live.Location, ann, a.ID, ms(base.Add(time.Second)), ms(base.Add(2 * time.Second)), []tracking.Location{fix(base.Add(2*time.Second), 4)}},
		}
		var got []change
		for _, c := range drain(sub) {
			if c.DeviceID == fill.ID {
				continue
			}
			points, _ := c.Points.([]tracking.Location)
			got = append(got, change{c.Kind, c.UserID, c.DeviceID, c.From, c.To, points})
			read, err := f.svc.FixesBetween(ctx, c.DeviceID, c.From, c.To)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(read, points); diff != "" {
				t.Errorf("change %+v: its points differ from a read of its range (-read +points):\n%s", c, diff)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("published changes (-want +got):\n%s", diff)
		}
	})
}

// drain takes what sub has received so far.
func drain(sub *live.Sub) []live.Change {
	var out []live.Change
	for {
		select {
		case c := <-sub.C:
			out = append(out, c)
		default:
			return out
		}
	}
}

// TestIngestGroupCancellationNeverLies: under load, with callers giving
// up at random moments, an ingest reported stored is stored and one
// reported failed is not.
func TestIngestGroupCancellationNeverLies(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ann := f.owner(t, "user_ann")
		var devices []int64
		for i := range 8 {
			d, _ := f.device(t, ann, fmt.Sprint("d", i))
			devices = append(devices, d.ID)
		}
		device := func(i int) int64 { return devices[i%len(devices)] }
		at := func(i int) time.Time { return now0.Add(-time.Duration(i+1) * time.Second) }
		dbtest.CancelAtRandom(t, 160, 4*time.Millisecond, func(ctx context.Context, i int) error {
			_, err := f.svc.Ingest(ctx, device(i), []tracking.Location{fixAt(at(i), i)})
			return err
		}, func(i int) bool {
			stored, err := f.db.NewSelect().Table("locations").
				Where("device_id = ? AND recorded_at = ?", device(i), at(i).UnixMilli()).Exists(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return stored
		})
	})
}

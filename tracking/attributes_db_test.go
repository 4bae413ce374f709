package tracking_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

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
		f.ingest(t, token, sos)
		got, err := f.svc.GetDevice(ctx, ann, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSOS := want(sos)
		wantSOS.ReceivedAt = now0
		if diff := cmp.Diff(&wantSOS, got.LastLocation); diff != "" {
			t.Errorf("newest fix, every attribute (-want +got):\n%s", diff)
		}
		f.ingest(t, token, still)
		if got, err = f.svc.GetDevice(ctx, ann, d.ID); err != nil {
			t.Fatal(err)
		}
		wantStill := want(still)
		wantStill.ReceivedAt = now0
		if diff := cmp.Diff(&wantStill, got.LastLocation); diff != "" {
			t.Errorf("newest fix (-want +got):\n%s", diff)
		}

		f.ingest(t, token, plain)
		if got, _ = f.svc.GetDevice(ctx, ann, d.ID); got.LastLocation == nil || got.LastLocation.Attributes != (tracking.Attributes{}) {
			t.Errorf("newest fix without attributes = %+v, want them all null", got.LastLocation)
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

// TestRegisterPushToken: the token is stored (shown only as
// PushRegistered), replaced by a later one, gone with a token rotation,
// and is no report.
func TestRegisterPushToken(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, _ := f.annsDevice(t)
		other, _ := f.device(t, ann, "Other")
		registered := func(id int64) bool {
			t.Helper()
			got, err := f.svc.GetDevice(ctx, ann, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.LastSeenAt != nil {
				t.Errorf("device %d: a push-token registration set last_seen_at", id)
			}
			return got.PushRegistered
		}
		if registered(d.ID) || d.PushRegistered {
			t.Fatal("a new device is push-registered")
		}
		if err := f.svc.RegisterPushToken(ctx, d.ID, "fcm:APA91b_first"); err != nil {
			t.Fatal(err)
		}
		if !registered(d.ID) || registered(other.ID) {
			t.Error("want only the registering device push-registered")
		}
		var stored string
		if err := f.db.NewSelect().Table("devices").Column("push_token").Where("id = ?", d.ID).Scan(ctx, &stored); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RegisterPushToken(ctx, d.ID, "fcm:APA91b_second"); err != nil {
			t.Fatal(err)
		}
		if err := f.db.NewSelect().Table("devices").Column("push_token").Where("id = ?", d.ID).Scan(ctx, &stored); err != nil || stored != "fcm:APA91b_second" {
			t.Errorf("stored push token %q (%v), want the second one", stored, err)
		}

		for _, bad := range []string{"", "with space", "tab\there", "é", string(make([]byte, 1025))} {
			var fe *errs.FieldError
			if err := f.svc.RegisterPushToken(ctx, d.ID, bad); !errors.As(err, &fe) || fe.Field != "notificationToken" {
				t.Errorf("RegisterPushToken(%.20q) = %v, want an *errs.FieldError for notificationToken", bad, err)
			}
		}
		long := make([]byte, 1024)
		for i := range long {
			long[i] = 'A'
		}
		if err := f.svc.RegisterPushToken(ctx, other.ID, string(long)); err != nil {
			t.Errorf("a 1024-character token: %v", err)
		}

		if _, _, err := f.svc.RotateToken(ctx, ann, d.ID); err != nil {
			t.Fatal(err)
		}
		if registered(d.ID) {
			t.Error("still push-registered after a token rotation")
		}
		if err := f.svc.DeleteDevice(ctx, ann, d.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RegisterPushToken(ctx, d.ID, "fcm:late"); !errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("RegisterPushToken on a deleted device = %v, want ErrInvalidToken", err)
		}
	})
}

package tracking_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

func TestDeviceLifecycle(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann := f.owner(t, "user_ann")

		d, token, err := f.svc.CreateDevice(ctx, ann, tracking.NewDevice{Name: "  Bella's collar ", HardwareID: ptr("353861053849681")})
		if err != nil {
			t.Fatal(err)
		}
		if d.ID == 0 || d.UserID != ann || d.Name != "Bella's collar" || *d.HardwareID != "353861053849681" {
			t.Errorf("created device = %+v", d)
		}
		if !tracking.ValidTokenFormat(token) || d.TokenHint != token[:8] {
			t.Errorf("token %q, hint %q", token, d.TokenHint)
		}
		if d.Status != tracking.StatusUnknown || d.LastSeenAt != nil || d.LastLocation != nil {
			t.Errorf("a new device is not unknown and empty: %+v", d)
		}

		got, err := f.svc.GetDevice(ctx, ann, d.ID)
		if err != nil || got.Name != d.Name || !got.CreatedAt.Equal(d.CreatedAt) {
			t.Errorf("GetDevice = %+v, %v; want %+v", got, err, d)
		}

		// Renaming to the same name leaves updated_at; a new name moves it.
		f.clock.Add(time.Second)
		same, err := f.svc.RenameDevice(ctx, ann, d.ID, "Bella's collar")
		if err != nil || !same.UpdatedAt.Equal(d.UpdatedAt) {
			t.Errorf("rename to the same name: updated_at %v -> %v, %v", d.UpdatedAt, same.UpdatedAt, err)
		}
		renamed, err := f.svc.RenameDevice(ctx, ann, d.ID, "Bella")
		if err != nil || renamed.Name != "Bella" || !renamed.UpdatedAt.After(d.UpdatedAt) {
			t.Errorf("rename: %+v, %v", renamed, err)
		}

		// Rotation: the old token stops working at once, the new one works.
		rotated, newToken, err := f.svc.RotateToken(ctx, ann, d.ID)
		if err != nil || newToken == token || rotated.TokenHint != newToken[:8] {
			t.Fatalf("RotateToken = %+v, %q, %v", rotated, newToken, err)
		}
		if _, err := f.svc.Authenticate(ctx, token); !errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("Authenticate(rotated token): %v, want ErrInvalidToken", err)
		}
		if id, err := f.svc.Authenticate(ctx, newToken); err != nil || id != d.ID {
			t.Errorf("Authenticate(new token) = %d, %v; want %d", id, err, d.ID)
		}

		second, _ := f.device(t, ann, "Phone")
		list, err := f.svc.ListDevices(ctx, ann)
		if err != nil || len(list) != 2 || list[0].ID != d.ID || list[1].ID != second.ID {
			t.Errorf("ListDevices = %+v, %v; want two by id", list, err)
		}

		if err := f.svc.DeleteDevice(ctx, ann, d.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.GetDevice(ctx, ann, d.ID); !errors.Is(err, tracking.ErrDeviceNotFound) {
			t.Errorf("GetDevice after delete: %v, want ErrDeviceNotFound", err)
		}
		if err := f.svc.DeleteDevice(ctx, ann, d.ID); !errors.Is(err, tracking.ErrDeviceNotFound) {
			t.Errorf("second delete: %v, want ErrDeviceNotFound", err)
		}
	})
}

// TestAnotherUsersDeviceIsNotFound: every method that takes an owner
// answers another user's device exactly as an absent one.
func TestAnotherUsersDeviceIsNotFound(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, bob := f.owner(t, "user_ann"), f.owner(t, "user_bob")
		d, token := f.device(t, ann, "Ann's")
		f.ingest(t, token, fixAt(now0.Add(-time.Minute), 0))

		for _, id := range []int64{d.ID, d.ID + 1000} {
			checks := map[string]error{}
			_, checks["GetDevice"] = f.svc.GetDevice(ctx, bob, id)
			_, checks["UserDevice"] = f.svc.UserDevice(ctx, "user_bob", id)
			_, checks["RenameDevice"] = f.svc.RenameDevice(ctx, bob, id, "mine now")
			_, _, checks["RotateToken"] = f.svc.RotateToken(ctx, bob, id)
			checks["DeleteDevice"] = f.svc.DeleteDevice(ctx, bob, id)
			plan, err := f.svc.PlanRoute(id, tracking.RouteQuery{})
			if err != nil {
				t.Fatal(err)
			}
			_, checks["Route"] = f.svc.Route(ctx, bob, plan, func(tracking.Location) error {
				t.Error("Route emitted a point of another user's device")
				return nil
			})
			for name, err := range checks {
				if !errors.Is(err, tracking.ErrDeviceNotFound) {
					t.Errorf("%s(bob, %d) = %v, want ErrDeviceNotFound", name, id, err)
				}
			}
		}
		// Nothing of Ann's changed.
		got, err := f.svc.GetDevice(ctx, ann, d.ID)
		if err != nil || got.Name != "Ann's" || got.TokenHint != d.TokenHint || got.LastLocation == nil {
			t.Errorf("Ann's device after Bob's attempts = %+v, %v", got, err)
		}
		// UserDevice finds it by Ann's Clerk id, and nothing for a user without a row.
		if byClerk, err := f.svc.UserDevice(ctx, "user_ann", d.ID); err != nil || !cmp.Equal(byClerk, got) {
			t.Errorf("UserDevice(user_ann) = %+v, %v; want %+v", byClerk, err, got)
		}
		if _, err := f.svc.UserDevice(ctx, "user_nobody", d.ID); !errors.Is(err, tracking.ErrDeviceNotFound) {
			t.Errorf("UserDevice(user_nobody) = %v, want ErrDeviceNotFound", err)
		}
	})
}

func TestCreateDeviceConflicts(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, bob := f.owner(t, "user_ann"), f.owner(t, "user_bob")

		imei := ptr("353861053849681")
		if _, _, err := f.svc.CreateDevice(ctx, ann, tracking.NewDevice{Name: "a", HardwareID: imei}); err != nil {
			t.Fatal(err)
		}
		var ce *errs.Error
		_, _, err := f.svc.CreateDevice(ctx, ann, tracking.NewDevice{Name: "b", HardwareID: imei})
		if !errors.As(err, &ce) || !errors.Is(err, errs.Conflict) || !strings.Contains(ce.Msg, "hardware_id") {
			t.Errorf("duplicate hardware id for one user: %v, want a conflict naming hardware_id", err)
		}
		// Unique per user only: another user may label a device alike.
		if _, _, err := f.svc.CreateDevice(ctx, bob, tracking.NewDevice{Name: "b", HardwareID: imei}); err != nil {
			t.Errorf("same hardware id for another user: %v", err)
		}
		// Devices without a hardware id never clash.
		for i := range 3 {
			if _, _, err := f.svc.CreateDevice(ctx, bob, tracking.NewDevice{Name: fmt.Sprint(i)}); err != nil {
				t.Errorf("device %d without hardware id: %v", i, err)
			}
		}

		// A deleted user gets no new device.
		if _, err := f.users.Delete(ctx, "user_bob", now0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.CreateDevice(ctx, bob, tracking.NewDevice{Name: "late"}); !errors.Is(err, errs.UserDeleted) {
			t.Errorf("create for a deleted user: %v, want ErrGone", err)
		}
	})
}

// TestDeviceCapHoldsUnderConcurrency: 120 concurrent creates for one user
// end with exactly 100 devices and 20 conflicts.
func TestDeviceCapHoldsUnderConcurrency(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann := f.owner(t, "user_ann")

		const attempts = tracking.MaxDevicesPerUser + 20
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			conflicts int
		)
		sem := make(chan struct{}, 16)
		for i := range attempts {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_, _, err := f.svc.CreateDevice(ctx, ann, tracking.NewDevice{Name: fmt.Sprint("tracker ", i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, errs.Conflict):
					conflicts++
				case err != nil:
					t.Errorf("create %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		list, err := f.svc.ListDevices(ctx, ann)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != tracking.MaxDevicesPerUser || conflicts != attempts-tracking.MaxDevicesPerUser {
			t.Errorf("%d devices and %d conflicts, want %d and %d", len(list), conflicts, tracking.MaxDevicesPerUser, attempts-tracking.MaxDevicesPerUser)
		}
	})
}

func TestNewDeviceValidation(t *testing.T) {
	tests := []struct {
		name      string
		in        tracking.NewDevice
		wantField string // "" when valid
	}{
		{"plain", tracking.NewDevice{Name: "Bella"}, ""},
		{"100 characters", tracking.NewDevice{Name: strings.Repeat("é", 100)}, ""},
		{"hardware id charset", tracking.NewDevice{Name: "x", HardwareID: ptr("AA:bb-01_2.3")}, ""},
		{"64-character hardware id", tracking.NewDevice{Name: "x", HardwareID: ptr(strings.Repeat("9", 64))}, ""},
		{"empty name", tracking.NewDevice{Name: ""}, "name"},
		{"blank name", tracking.NewDevice{Name: "   "}, "name"},
		{"101 characters", tracking.NewDevice{Name: strings.Repeat("a", 101)}, "name"},
		{"control character", tracking.NewDevice{Name: "a\tb"}, "name"},
		{"invalid UTF-8", tracking.NewDevice{Name: "a\xffb"}, "name"},
		{"empty hardware id", tracking.NewDevice{Name: "x", HardwareID: ptr("")}, "hardware_id"},
		{"65-character hardware id", tracking.NewDevice{Name: "x", HardwareID: ptr(strings.Repeat("9", 65))}, "hardware_id"},
		{"hardware id with a space", tracking.NewDevice{Name: "x", HardwareID: ptr("35386 105")}, "hardware_id"},
		{"hardware id with a slash", tracking.NewDevice{Name: "x", HardwareID: ptr("a/b")}, "hardware_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			err := in.Normalize()
			var fe *errs.FieldError
			switch {
			case tt.wantField == "" && err != nil:
				t.Errorf("Normalize() = %v, want nil", err)
			case tt.wantField != "" && (!errors.As(err, &fe) || fe.Field != tt.wantField):
				t.Errorf("Normalize() = %v, want a FieldError for %s", err, tt.wantField)
			}
		})
	}
}

func TestDeviceStatus(t *testing.T) {
	eachFixture(t, tracking.Config{OnlineWindow: 5 * time.Minute}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, d, token := f.annsDevice(t)

		status := func() tracking.Status {
			t.Helper()
			got, err := f.svc.GetDevice(ctx, ann, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Status
		}
		if got := status(); got != tracking.StatusUnknown {
			t.Errorf("never seen: %s, want unknown", got)
		}
		f.ingest(t, token, fixAt(now0.Add(-time.Hour), 0)) // an old fix, but a report now
		if got := status(); got != tracking.StatusOnline {
			t.Errorf("just seen: %s, want online", got)
		}
		f.clock.Add(5 * time.Minute)
		if got := status(); got != tracking.StatusOnline {
			t.Errorf("seen exactly the window ago: %s, want online", got)
		}
		f.clock.Add(time.Millisecond)
		if got := status(); got != tracking.StatusOffline {
			t.Errorf("seen longer ago than the window: %s, want offline", got)
		}
	})
}

// TestUserDeleteRemovesDevicesAndLocations: the tombstone takes the user's
// devices and, by the foreign key's cascade, their locations, and leaves
// other users' alone.
func TestUserDeleteRemovesDevicesAndLocations(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ann, bob := f.owner(t, "user_ann"), f.owner(t, "user_bob")
		_, annToken := f.device(t, ann, "Ann's collar")
		_, annPhone := f.device(t, ann, "Ann's phone")
		bobs, bobToken := f.device(t, bob, "Bob's")
		for _, token := range []string{annToken, annPhone, bobToken} {
			f.ingest(t, token, fixAt(now0.Add(-2*time.Minute), 1), fixAt(now0.Add(-time.Minute), 2))
		}

		count := func(table string, where string, args ...any) int64 {
			t.Helper()
			n, err := f.db.NewSelect().Table(table).Where(where, args...).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		annsLocations := "device_id IN (SELECT id FROM devices WHERE user_id = ?)"
		if got := count("locations", annsLocations, ann); got != 4 {
			t.Fatalf("Ann has %d locations before the delete, want 4", got)
		}

		if _, err := f.users.Delete(ctx, "user_ann", now0); err != nil {
			t.Fatal(err)
		}
		if got := count("devices", "user_id = ?", ann); got != 0 {
			t.Errorf("%d of Ann's devices survive her deletion", got)
		}
		if got := count("locations", "device_id NOT IN (SELECT id FROM devices)"); got != 0 {
			t.Errorf("%d orphaned locations survive Ann's deletion", got)
		}
		if _, err := f.svc.Authenticate(ctx, annToken); !errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("Ann's token after her deletion: %v, want ErrInvalidToken", err)
		}

		if got := count("locations", "device_id = ?", bobs.ID); got != 2 {
			t.Errorf("Bob has %d locations after Ann's deletion, want 2", got)
		}
	})
}

// TestRegisterPushTokenFailure: a statement that fails is not taken for
// one that changed no row: the failure is returned, not ErrInvalidToken
// (which the tracker would be told is a bad device token).
func TestRegisterPushTokenFailure(t *testing.T) {
	eachFixture(t, tracking.Config{}, func(t *testing.T, f *fixture) {
		_, d, _ := f.annsDevice(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := f.svc.RegisterPushToken(ctx, d.ID, "fcm:APA91b_first")
		if !errors.Is(err, context.Canceled) || errors.Is(err, tracking.ErrInvalidToken) {
			t.Errorf("RegisterPushToken with a cancelled context = %v, want context.Canceled", err)
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
		storedIs := func(want string) {
			t.Helper()
			var stored string
			if err := f.db.NewSelect().Table("devices").Column("push_token").Where("id = ?", d.ID).Scan(ctx, &stored); err != nil || stored != want {
				t.Errorf("stored push token %q (%v), want %q", stored, err, want)
			}
		}
		storedIs("fcm:APA91b_first")
		if err := f.svc.RegisterPushToken(ctx, d.ID, "fcm:APA91b_second"); err != nil {
			t.Fatal(err)
		}
		storedIs("fcm:APA91b_second")

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

package tracking_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/usersync/usersync/tracking"
)

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

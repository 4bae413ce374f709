package migrations_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/migrations/dbtest"
)

// storedPoint is a row of locations, every column of it.
type storedPoint struct {
	DeviceID   int64    `bun:"device_id"`
	RecordedAt int64    `bun:"recorded_at"`
	ReceivedAt int64    `bun:"received_at"`
	Lat        float64  `bun:"lat"`
	Lon        float64  `bun:"lon"`
	AccuracyM  *float64 `bun:"accuracy_m"`
	AltitudeM  *float64 `bun:"altitude_m"`
	SpeedMPS   *float64 `bun:"speed_mps"`
	CourseDeg  *float64 `bun:"course_deg"`
	BatteryPct *float64 `bun:"battery_pct"`
	Motion     *bool    `bun:"motion"`
	OdometerM  *float64 `bun:"odometer_m"`
	Charging   *bool    `bun:"charging"`
	Activity   *string  `bun:"activity"`
	Event      *string  `bun:"event"`
	Alarm      *string  `bun:"alarm"`
}

const pointColumns = `device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m, speed_mps,
	course_deg, battery_pct, motion, odometer_m, charging, activity, event, alarm`

func allPoints(t *testing.T, db bun.IDB) []storedPoint {
	t.Helper()
	var out []storedPoint
	if err := db.NewRaw("SELECT "+pointColumns+" FROM locations ORDER BY device_id, recorded_at").Scan(context.Background(), &out); err != nil {
		t.Fatalf("read locations: %v", err)
	}
	return out
}

// oldPoints are points of three devices spread over 30 months, with every
// column set in some and null in others, and on both sides of month
// boundaries (the first and the last millisecond of a month).
func oldPoints(devices []int64) []storedPoint {
	f := func(v float64) *float64 { return &v }
	s := func(v string) *string { return &v }
	b := func(v bool) *bool { return &v }
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []storedPoint
	for m := range 30 {
		monthStart := start.AddDate(0, m, 0).UnixMilli()
		for i, d := range devices {
			for j, at := range []int64{monthStart, monthStart + 1, monthStart + 86_400_000*int64(3+i), start.AddDate(0, m+1, 0).UnixMilli() - 1} {
				p := storedPoint{DeviceID: d, RecordedAt: at, ReceivedAt: at + 1500, Lat: 52.5 + float64(m)/100, Lon: 13.4 + float64(j)/100}
				if (m+i+j)%2 == 0 {
					p.AccuracyM, p.AltitudeM, p.SpeedMPS, p.CourseDeg, p.BatteryPct = f(4.8), f(-12.5), f(1.39), f(271.5), f(87)
					p.Motion, p.OdometerM, p.Charging = b(j%3 == 0), f(123456.7), b(false)
					p.Activity, p.Event, p.Alarm = s("walking"), s("motionchange"), s("sos")
				}
				out = append(out, p)
			}
		}
	}
	slices.SortFunc(out, func(a, b storedPoint) int {
		return cmp.Or(cmp.Compare(a.DeviceID, b.DeviceID), cmp.Compare(a.RecordedAt, b.RecordedAt))
	})
	return out
}

// TestLocationsPartitionConversion: the migration that partitions
// locations on PostgreSQL keeps every stored point, column for column,
// puts each in its month's partition, and keeps the primary key and the
// cascade from devices; rolling it back keeps every point too.
func TestLocationsPartitionConversion(t *testing.T) {
	const id = "20261206000002"
	dbtest.EachURL(t, func(t *testing.T, databaseURL string) {
		t.Parallel()
		ctx := context.Background()
		db, err := migrations.Open(ctx, databaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := migrations.UpBefore(ctx, db, id); err != nil {
			t.Fatalf("migrate to before %s: %v", id, err)
		}

		// The schema as it was: users, devices, points.
		now := time.Now().UTC()
		var user int64
		if err := db.NewRaw("INSERT INTO users (clerk_user_id, version, created_at, updated_at) VALUES ('user_conv', 1, ?, ?) RETURNING id", now, now).Scan(ctx, &user); err != nil {
			t.Fatal(err)
		}
		var devices []int64
		for i := range 3 {
			var d int64
			err := db.NewRaw("INSERT INTO devices (user_id, name, token_hash, token_hint, created_at, updated_at) VALUES (?, ?, ?, 'trk_0000', ?, ?) RETURNING id",
				user, fmt.Sprintf("d%d", i), []byte{byte(i)}, now, now).Scan(ctx, &d)
			if err != nil {
				t.Fatal(err)
			}
			devices = append(devices, d)
		}
		want := oldPoints(devices)
		if _, err := db.NewInsert().Model(&want).ModelTableExpr("locations").Exec(ctx); err != nil {
			t.Fatalf("fill the old table: %v", err)
		}
		if diff := gocmp.Diff(want, allPoints(t, db)); diff != "" {
			t.Fatalf("the old table does not hold what was written (-want +got):\n%s", diff)
		}

		// migrate runs a step that must be the migration id alone; then
		// locations holds want, on PostgreSQL as a table of relkind kind.
		migrate := func(name string, step func(context.Context, *bun.DB) ([]string, error), want []storedPoint, kind string) {
			t.Helper()
			ids, err := step(ctx, db)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(ids) != 1 || ids[0] != id {
				t.Fatalf("%s ran %v, want only %s", name, ids, id)
			}
			if diff := gocmp.Diff(want, allPoints(t, db)); diff != "" {
				t.Fatalf("points after %s differ (-want +got):\n%s", name, diff)
			}
			if migrations.DialectOf(db) == migrations.Postgres {
				if got := relkind(t, db, "locations"); got != kind {
					t.Fatalf("locations has relkind %q after %s, want %q", got, name, kind)
				}
			}
		}
		// keyAndCascade checks the primary key and the cascade from devices
		// on the stored points want: a second point with the key of one is
		// refused, and deleting device takes its points, and only its. It
		// returns the points left.
		keyAndCascade := func(want []storedPoint, device int64) []storedPoint {
			t.Helper()
			dup := want[0]
			if _, err := db.NewInsert().Model(&dup).ModelTableExpr("locations").Exec(ctx); err == nil {
				t.Error("a second point with the same (device_id, recorded_at) was stored")
			}
			if _, err := db.NewRaw("DELETE FROM devices WHERE id = ?", device).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			var rest []storedPoint
			for _, p := range want {
				if p.DeviceID != device {
					rest = append(rest, p)
				}
			}
			if diff := gocmp.Diff(rest, allPoints(t, db)); diff != "" {
				t.Fatalf("points after deleting device %d differ (-want +got):\n%s", device, diff)
			}
			return rest
		}

		migrate("migrating up", migrations.Up, want, "p") // partitioned
		if migrations.DialectOf(db) == migrations.Postgres {
			// Each point is in the partition of its month, none in the default.
			var misplaced []string
			err := db.NewRaw(`SELECT tableoid::regclass::text || ':' || recorded_at FROM locations
				WHERE tableoid::regclass::text <> 'locations_y' || to_char(to_timestamp(recorded_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY"m"MM')`).
				Scan(ctx, &misplaced)
			if err != nil {
				t.Fatal(err)
			}
			if len(misplaced) > 0 {
				t.Errorf("%d points outside their month's partition, e.g. %v", len(misplaced), misplaced[:min(3, len(misplaced))])
			}
		}
		rest := keyAndCascade(want, devices[0])

		migrate("rolling back", migrations.Down, rest, "r") // a plain table
		keyAndCascade(rest, devices[1])

		// And up again.
		if _, err := migrations.Up(ctx, db); err != nil {
			t.Fatalf("migrate up again: %v", err)
		}
	})
}

func relkind(t *testing.T, db bun.IDB, table string) string {
	t.Helper()
	var kind string
	if err := db.NewRaw("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(?)", table).Scan(context.Background(), &kind); err != nil {
		t.Fatalf("relkind of %s: %v", table, err)
	}
	return kind
}

package retention_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
)

// TestPartitionCoverage: on PostgreSQL every month a point may land in
// has a partition once EnsurePartitions ran — from LOCATION_MAX_AGE ago
// (or the retention cutoff, if later) to two months past ten minutes from
// now — and a point for a month without one is stored all the same, in
// the default partition, then moved into its month when that is created.
// On SQLite there is nothing to create and any point is stored.
func TestPartitionCoverage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *bun.DB) {
		t.Parallel()
		ctx := context.Background()
		now := time.Now().UTC()
		const maxAge = 400 * day
		svc := tracking.NewService(db, tracking.Config{Limits: tracking.Limits{MaxAge: maxAge}})
		id, _ := device(t, db, "user_cover")
		var owner int64
		if err := db.NewRaw("SELECT user_id FROM devices WHERE id = ?", id).Scan(ctx, &owner); err != nil {
			t.Fatal(err)
		}
		routeHas := func(at time.Time) bool {
			t.Helper()
			from, to := at.Add(-time.Hour), at.Add(time.Hour)
			plan, err := svc.PlanRoute(id, tracking.RouteQuery{From: &from, To: &to})
			if err != nil {
				t.Fatal(err)
			}
			var got []time.Time
			if _, err := svc.Route(ctx, owner, plan, func(l tracking.Location) error { got = append(got, l.RecordedAt); return nil }); err != nil {
				t.Fatal(err)
			}
			return len(got) == 1 && got[0].Equal(at)
		}

		// A point in a month no partition covers yet: stored, readable.
		old := now.Add(-300 * day).Truncate(time.Millisecond)
		res, err := svc.Ingest(ctx, id, []tracking.Location{{RecordedAt: old, Lat: 52.5, Lon: 13.4}})
		if err != nil || res.Stored != 1 {
			t.Fatalf("ingest of a point for a month without a partition: %+v, %v", res, err)
		}
		if !routeHas(old) {
			t.Error("the route does not show the point in the default partition")
		}

		// With retention 30 days, nothing older than the cutoff's month is created.
		p, _ := newPruner(db, retention.Config{LocationMaxAge: maxAge, LocationRetention: 30 * day}, now)
		created, err := p.EnsurePartitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !isPostgres(db) {
			if len(created) != 0 {
				t.Errorf("EnsurePartitions on SQLite created %v", created)
			}
			return
		}
		if got := partitionOf(t, db, id, old.UnixMilli()); got != "locations_default" {
			t.Fatalf("the point of a month without a partition is in %s, want the default partition", got)
		}
		parts := partitions(t, db)
		for name, r := range parts {
			if name != "locations_default" && r[1] <= monthOf(now.Add(-30*day)).UnixMilli() {
				t.Errorf("partition %s created although every point in it would be past retention", name)
			}
		}

		// Without retention: every month from LOCATION_MAX_AGE ago.
		p, _ = newPruner(db, retention.Config{LocationMaxAge: maxAge}, now)
		created, err = p.EnsurePartitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		parts = partitions(t, db)
		var want []string
		for m := monthOf(now.Add(-maxAge)); !m.After(monthOf(now).AddDate(0, 2, 0)); m = m.AddDate(0, 1, 0) {
			want = append(want, monthName(m))
			r, ok := parts[monthName(m)]
			if !ok {
				t.Errorf("no partition for %s", m.Format("2006-01"))
				continue
			}
			if r[0] != m.UnixMilli() || r[1] != m.AddDate(0, 1, 0).UnixMilli() {
				t.Errorf("%s covers [%d, %d), want the month [%d, %d)", monthName(m), r[0], r[1], m.UnixMilli(), m.AddDate(0, 1, 0).UnixMilli())
			}
		}
		if !slices.Contains(created, monthName(old)) {
			t.Errorf("created %v, not %s", created, monthName(old))
		}
		// The point moved into its month and is still read once.
		if got := partitionOf(t, db, id, old.UnixMilli()); got != monthName(old) {
			t.Errorf("after its month was created, the point is in %s, want %s", got, monthName(old))
		}
		if n := countAll(t, db, "locations_default"); n != 0 {
			t.Errorf("the default partition still holds %d points", n)
		}
		if !routeHas(old) {
			t.Error("the route does not show the moved point")
		}
		if again, err := p.EnsurePartitions(ctx); err != nil || len(again) != 0 {
			t.Errorf("a second EnsurePartitions created %v, %v; want nothing", again, err)
		}

		// Ten minutes ahead may cross into the next month: five minutes
		// before a month ends, that month and two more after it are covered.
		edge := monthOf(now).AddDate(0, 3, 0).Add(-5 * time.Minute)
		p, _ = newPruner(db, retention.Config{LocationMaxAge: maxAge}, edge)
		if _, err := p.EnsurePartitions(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := partitions(t, db)[monthName(monthOf(edge).AddDate(0, 3, 0))]; !ok {
			t.Errorf("at %v no partition for %s", edge, monthOf(edge).AddDate(0, 3, 0).Format("2006-01"))
		}
	})
}

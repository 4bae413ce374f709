package retention_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

const day = 24 * time.Hour

// quietLogger drops the pruner's log lines; tests read its reports.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// counter is an Observer that adds up what the pruner says it removed.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) observe(table string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[table] += n
}

func (c *counter) get(table string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[table]
}

// newPruner is a pruner of db whose clock stands at now.
func newPruner(db *bun.DB, cfg retention.Config, now time.Time) (*retention.Pruner, *counter) {
	cfg.Now = func() time.Time { return now }
	p := retention.New(db, cfg, quietLogger())
	c := &counter{}
	p.Observer = c.observe
	return p, c
}

// device creates a user and a device of theirs and returns the device id
// and its ingest token.
func device(t *testing.T, db *bun.DB, clerkUserID string) (int64, string) {
	t.Helper()
	ctx := context.Background()
	email := clerkUserID + "@example.com"
	u, err := users.NewService(db).Upsert(ctx, users.Write{ClerkUserID: clerkUserID, Email: &email, Version: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	d, token, err := tracking.NewService(db, tracking.Config{}).CreateDevice(ctx, u.User.ID, tracking.NewDevice{Name: clerkUserID})
	if err != nil {
		t.Fatal(err)
	}
	return d.ID, token
}

// point is a stored row of locations, as seeded.
type point struct {
	DeviceID   int64   `bun:"device_id"`
	RecordedAt int64   `bun:"recorded_at"`
	ReceivedAt int64   `bun:"received_at"`
	Lat        float64 `bun:"lat"`
	Lon        float64 `bun:"lon"`
}

// seed stores a point of device at each time, straight into locations
// (the pruner's subject is what is stored, however old), and makes the
// newest of them the device's last fix, as ingest would.
func seed(t *testing.T, db *bun.DB, device int64, at ...time.Time) {
	t.Helper()
	ctx := context.Background()
	rows := make([]point, len(at))
	for i, ts := range at {
		rows[i] = point{DeviceID: device, RecordedAt: ts.UnixMilli(), ReceivedAt: ts.UnixMilli() + 1000, Lat: 52.5, Lon: 13.4}
	}
	for chunk := range slices.Chunk(rows, 500) {
		if _, err := db.NewInsert().Model(&chunk).ModelTableExpr("locations").Exec(ctx); err != nil {
			t.Fatalf("seed points: %v", err)
		}
	}
	newest := slices.MaxFunc(rows, func(a, b point) int { return int(a.RecordedAt - b.RecordedAt) })
	_, err := db.NewRaw(`UPDATE devices SET last_recorded_at = ?, last_received_at = ?, lat = ?, lon = ?, battery_pct = 50, motion = ?, activity = 'still'
		WHERE id = ? AND (last_recorded_at IS NULL OR last_recorded_at < ?)`,
		newest.RecordedAt, newest.ReceivedAt, newest.Lat, newest.Lon, true, device, newest.RecordedAt).Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
}

// stored returns the recorded_at of every point of device, ascending.
func stored(t *testing.T, db bun.IDB, device int64) []int64 {
	t.Helper()
	var out []int64
	if err := db.NewRaw("SELECT recorded_at FROM locations WHERE device_id = ? ORDER BY recorded_at", device).Scan(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func countAll(t *testing.T, db bun.IDB, table string) int {
	t.Helper()
	var n int
	if err := db.NewRaw("SELECT count(*) FROM ?", bun.Ident(table)).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// partitions lists the partitions of locations (PostgreSQL) as name →
// [from, to); the default partition has an empty range.
func partitions(t *testing.T, db bun.IDB) map[string][2]int64 {
	t.Helper()
	var rows []struct {
		Name  string `bun:"name"`
		Bound string `bun:"bound"`
	}
	err := db.NewRaw(`SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
		FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass('locations')`).Scan(context.Background(), &rows)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int64{}
	for _, r := range rows {
		var b [2]int64
		if r.Bound != "DEFAULT" {
			if _, err := fmt.Sscanf(r.Bound, "FOR VALUES FROM ('%d') TO ('%d')", &b[0], &b[1]); err != nil {
				t.Fatalf("bound %q: %v", r.Bound, err)
			}
		}
		out[r.Name] = b
	}
	return out
}

// partitionOf names the partition that holds the device's point at ms.
func partitionOf(t *testing.T, db bun.IDB, device, ms int64) string {
	t.Helper()
	var name string
	if err := db.NewRaw("SELECT tableoid::regclass::text FROM locations WHERE device_id = ? AND recorded_at = ?", device, ms).
		Scan(context.Background(), &name); err != nil {
		t.Fatal(err)
	}
	return name
}

func monthName(t time.Time) string {
	return fmt.Sprintf("locations_y%04dm%02d", t.Year(), int(t.Month()))
}

func isPostgres(db bun.IDB) bool { return migrations.DialectOf(db) == migrations.Postgres }

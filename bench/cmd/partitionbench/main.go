// Command partitionbench measures what partitioning locations by month
// buys on PostgreSQL, against the same data in one table, in the same run:
//
//   - route and latest of a device whose points (5 million by default)
//     span 24 months, through the real HTTP handler, on a partitioned
//     database and on an unpartitioned copy, the requests alternating
//     between the two so that both see the same machine;
//   - the time to expire a month of points (2 million by default): the
//     pruner's pass drops the month's partition on one, and deletes the
//     points in batches on the other.
//
// Run it from the repository root, at full size or smaller:
//
//	go run ./bench/cmd/partitionbench
//	go run ./bench/cmd/partitionbench -points 200000 -expire 100000 -requests 50
//
// It creates two databases on the server (dropped at the end): one
// migrated to the latest schema (partitioned), one to the schema before
// migration 20261206000002 (one plain table), with identical points.
// Finally it migrates the plain one up and reports how long converting
// its table took. Everything runs on 127.0.0.1, bounded by -requests.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// partitionMigration is the migration that partitions locations.
const partitionMigration = "20261206000002"

type options struct {
	baseURL  string
	points   int
	months   int
	expire   int
	requests int
	keep     bool
}

func main() {
	bench.Main("partitionbench", run)
}

func parseOptions(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := bench.Flags("partitionbench", stdout, &o.baseURL, "two databases are created on it and dropped")
	fs.IntVar(&o.points, "points", 5_000_000, "points of the route device")
	fs.IntVar(&o.months, "months", 24, "months the route device's points span, ending now")
	fs.IntVar(&o.expire, "expire", 2_000_000, "points in the month that expires")
	fs.IntVar(&o.requests, "requests", 300, "requests of each kind on each database")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.points < 1000 || o.months < 2 || o.expire < 1 || o.requests < 1 {
		return o, fmt.Errorf("want -points ≥ 1000, -months ≥ 2, -expire ≥ 1, -requests ≥ 1")
	}
	return o, nil
}

// side is one of the two databases with the server on it.
type side struct {
	name     string // "partitioned" or "one table"
	db       *bun.DB
	addr     string
	stop     func()
	token    string // the route owner's session token
	deviceID int64
	expireID int64 // the device whose month expires
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, stdout)
	if err != nil {
		return err
	}
	clerk, err := bench.NewClerk()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	// The route device's points span [from, now − 1 h); the expiring
	// month is the whole month before the one that holds from.
	from := now.AddDate(0, -o.months, 0)
	expireMonth := monthOf(from).AddDate(0, -1, 0)
	cutoff := expireMonth.AddDate(0, 1, 0)
	fmt.Fprintf(stdout, "partitionbench: %d route points over %d months from %s; %d points in %s to expire; %s\n",
		o.points, o.months, from.Format("2006-01-02"), o.expire, expireMonth.Format("2006-01"), bench.Redact(o.baseURL))

	var sides []*side
	for _, partitioned := range []bool{true, false} {
		s, cleanup, err := newSide(ctx, o, clerk, partitioned, now, expireMonth)
		defer func() {
			if s != nil && s.stop != nil {
				s.stop()
			}
			if cleanup != nil {
				cleanup()
			}
		}()
		if err != nil {
			return err
		}
		sides = append(sides, s)
	}
	for _, s := range sides {
		if err := seed(ctx, stdout, s, o, from, now, expireMonth); err != nil {
			return err
		}
	}

	for _, s := range sides {
		if err := explainRoute(ctx, stdout, s, from); err != nil {
			return err
		}
	}
	results, err := measure(ctx, o, sides, from, now)
	if err != nil {
		return err
	}
	expiries, err := expireMonthOf(ctx, sides, cutoff)
	if err != nil {
		return err
	}
	conversion, converted, err := convert(ctx, sides[1])
	if err != nil {
		return err
	}
	printReport(stdout, o, results, expiries, conversion, converted)
	return nil
}

// newSide creates a database, migrates it (to the latest schema, or to
// the one before the partitions), creates the owners and serves it.
func newSide(ctx context.Context, o options, clerk *bench.Clerk, partitioned bool, now, expireMonth time.Time) (*side, func(), error) {
	name, prefix := "partitioned", "usersync_bench_part"
	if !partitioned {
		name, prefix = "one table", "usersync_bench_flat"
	}
	var pg bench.Database
	if err := pg.Create(ctx, o.baseURL, prefix); err != nil {
		return nil, nil, err
	}
	closeDB := func() {
		if o.keep {
			fmt.Fprintf(os.Stderr, "partitionbench: kept %s\n", bench.Redact(pg.URL))
		}
		if err := pg.Drop(o.keep); err != nil {
			fmt.Fprintln(os.Stderr, "partitionbench: drop database:", err)
		}
	}
	if err := pg.Open(ctx); err != nil {
		return nil, closeDB, err
	}
	db := pg.DB
	var err error
	if partitioned {
		_, err = migrations.Up(ctx, db)
	} else {
		err = migrations.UpBefore(ctx, db, partitionMigration)
	}
	if err != nil {
		return nil, closeDB, fmt.Errorf("migrate %s: %w", name, err)
	}
	if partitioned {
		// Every month of the data has its partition, as serve's pruner keeps them.
		p := retention.New(db, retention.Config{LocationMaxAge: now.Sub(expireMonth)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if _, err := p.EnsurePartitions(ctx); err != nil {
			return nil, closeDB, err
		}
	}
	s := &side{name: name, db: db}
	us := users.NewService(db)
	ts := tracking.NewService(db, tracking.Config{})
	for i, clerkID := range []string{"user_route", "user_expire"} {
		email := clerkID + "@example.com"
		u, err := us.Upsert(ctx, users.Write{ClerkUserID: clerkID, Email: &email, Version: now, Writer: users.WriterSync})
		if err != nil {
			return nil, closeDB, err
		}
		d, _, err := ts.CreateDevice(ctx, u.User.ID, tracking.NewDevice{Name: clerkID})
		if err != nil {
			return nil, closeDB, err
		}
		if i == 0 {
			s.deviceID = d.ID
			if s.token, err = clerk.Token(clerkID, time.Now().Add(-time.Second), 6*time.Hour); err != nil {
				return nil, closeDB, err
			}
			// A fresh fix, so that latest has one.
			if _, err := ts.Ingest(ctx, d.ID, []tracking.Location{{RecordedAt: now.Add(-time.Minute), Lat: 52.52, Lon: 13.405}}); err != nil {
				return nil, closeDB, err
			}
		} else {
			s.expireID = d.ID
		}
	}
	// The service as serve assembles it, rate limits off.
	settings := map[string]string{"CLERK_JWT_KEY": clerk.PublicPEM(), "RATE_LIMIT_RPS": "0", "LOG_LEVEL": "error",
		"CLERK_MAX_TOKEN_LIFETIME": "7h"} // its tokens live 6 h
	cfg, err := app.LoadConfig(func(k string) string { return settings[k] })
	if err != nil {
		return nil, closeDB, err
	}
	a, err := app.New(cfg, db, app.NewLogger(cfg, io.Discard))
	if err != nil {
		return nil, closeDB, err
	}
	base, stop, err := bench.Serve("127.0.0.1:0", a.Handler)
	if err != nil {
		return nil, closeDB, err
	}
	s.addr, s.stop = strings.TrimPrefix(base, "http://"), stop
	return s, closeDB, nil
}

// seed writes the route device's points, evenly spaced over [from, now −
// 1 h), and the expiring month's points of the other device, each in
// statements of at most 500,000 rows, then VACUUM ANALYZEs.
func seed(ctx context.Context, w io.Writer, s *side, o options, from, now, expireMonth time.Time) error {
	start := time.Now()
	span := now.Add(-time.Hour).Sub(from).Milliseconds()
	if err := insertSeries(ctx, s.db, s.deviceID, from.UnixMilli(), span/int64(o.points), o.points); err != nil {
		return err
	}
	monthMs := expireMonth.AddDate(0, 1, 0).Sub(expireMonth).Milliseconds()
	if err := insertSeries(ctx, s.db, s.expireID, expireMonth.UnixMilli(), monthMs/int64(o.expire), o.expire); err != nil {
		return err
	}
	seeded := time.Since(start)
	if _, err := s.db.ExecContext(ctx, "VACUUM (ANALYZE) locations"); err != nil {
		return err
	}
	fmt.Fprintf(w, "partitionbench: %s: seeded %d points in %s (%.0f points/s), vacuumed in %s\n", s.name, o.points+o.expire,
		seeded.Round(time.Millisecond), float64(o.points+o.expire)/seeded.Seconds(), (time.Since(start) - seeded).Round(time.Millisecond))
	return nil
}

// insertSeries stores n points of device, step ms apart from first.
func insertSeries(ctx context.Context, db *bun.DB, device, first, step int64, n int) error {
	const chunk = 500_000
	for g := 0; g < n; g += chunk {
		_, err := db.ExecContext(ctx, `INSERT INTO locations (device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg, battery_pct)
			SELECT ?, ? + g * ?, ? + g * ? + 1500, 52.52 + (g % 2000) * 0.00001, 13.40 + (g % 3000) * 0.00001, 4.8, 41.2, 1.39, (g % 360) * 1.0, 100 - (g % 100)
			FROM generate_series(?::bigint, ?::bigint) AS g`,
			device, first, step, first, step, g, min(g+chunk, n)-1)
		if err != nil {
			return fmt.Errorf("seed points: %w", err)
		}
	}
	return nil
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// randomFrom is a random start of a window of length d in [from, to − d).
func randomFrom(rng *rand.Rand, from, to time.Time, d time.Duration) time.Time {
	n := to.Add(-d).Sub(from) / time.Second
	return from.Add(time.Duration(rng.Int64N(int64(n))) * time.Second)
}

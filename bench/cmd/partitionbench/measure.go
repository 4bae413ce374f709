package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/retention"
)

// warmup is how many unmeasured requests of each kind go first.
const warmup = 10

// query is one kind of request; path builds request i, the same on both
// sides (only the device id differs).
type query struct {
	name string
	path func(i int, deviceID int64) string
}

// result is the latencies of one kind of request on each side.
type result struct {
	name string
	lats map[string][]time.Duration // by side name, sorted
}

func queries(from, now time.Time) []query {
	end := now.Add(-time.Hour)
	window := func(seed uint64, d time.Duration) func(int, int64) string {
		return func(i int, id int64) string {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			f := randomFrom(rng, from, end, d)
			return routePath(id, f, f.Add(d))
		}
	}
	return []query{
		{"latest", func(_ int, id int64) string { return fmt.Sprintf("/api/locations/%d/latest", id) }},
		{"route, 1 day", window(1, 24*time.Hour)},
		{"route, 31 days (first 10,000 points)", window(2, 744*time.Hour)},
		{"route, 2 days across a month's end", func(i int, id int64) string {
			rng := rand.New(rand.NewPCG(3, uint64(i)))
			m := monthOf(randomFrom(rng, from.AddDate(0, 1, 0), end, 0))
			return routePath(id, m.Add(-24*time.Hour), m.Add(24*time.Hour))
		}},
	}
}

func routePath(id int64, from, to time.Time) string {
	return fmt.Sprintf("/api/locations/%d/route?from=%s&to=%s&limit=10000", id, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
}

// measure sends o.requests requests of each kind to each side, one at a
// time, alternating sides (and which goes first), so that both see the
// same moments of a shared machine.
func measure(ctx context.Context, o options, sides []*side, from, now time.Time) ([]result, error) {
	conns := map[string]*bench.Conn{}
	for _, s := range sides {
		c, err := bench.Dial(s.addr)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conns[s.name] = c
	}
	var out []result
	for _, q := range queries(from, now) {
		r := result{name: q.name, lats: map[string][]time.Duration{}}
		for i := -warmup; i < o.requests; i++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			order := sides
			if i%2 != 0 {
				order = []*side{sides[1], sides[0]}
			}
			for _, s := range order {
				req := bench.Request(nil, http.MethodGet, s.addr, q.path(max(i, 0), s.deviceID), []string{"Authorization: Bearer " + s.token}, nil)
				began := time.Now()
				status, body, err := conns[s.name].Do(req, time.Now().Add(time.Minute))
				took := time.Since(began)
				if err != nil {
					return nil, fmt.Errorf("%s on %s: %w", q.name, s.name, err)
				}
				if status != http.StatusOK {
					return nil, fmt.Errorf("%s on %s: status %d: %.300s", q.name, s.name, status, body)
				}
				if i >= 0 {
					r.lats[s.name] = append(r.lats[s.name], took)
				}
			}
		}
		for _, l := range r.lats {
			slices.Sort(l)
		}
		out = append(out, r)
	}
	return out, nil
}

// explainRoute prints how PostgreSQL reads one day of the route: which
// tables (partitions) the plan touches, and the time it took.
func explainRoute(ctx context.Context, w io.Writer, s *side, from time.Time) error {
	day := from.AddDate(0, 6, 0)
	var plan []string
	err := s.db.NewRaw(`EXPLAIN (ANALYZE, BUFFERS) SELECT recorded_at, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg, battery_pct
		FROM locations WHERE device_id = ? AND recorded_at >= ? AND recorded_at < ? ORDER BY recorded_at LIMIT 10001`,
		s.deviceID, day.UnixMilli(), day.Add(24*time.Hour).UnixMilli()).Scan(ctx, &plan)
	if err != nil {
		return fmt.Errorf("explain the route on %s: %w", s.name, err)
	}
	var scanned []string
	var took string
	for _, line := range plan {
		if i := strings.Index(line, " on locations"); i >= 0 && strings.Contains(line, "Scan") {
			// A table or partition scanned; "Bitmap Index Scan on x_pkey" names an index.
			if name := strings.Fields(line[i+4:])[0]; !strings.HasSuffix(name, "_pkey") {
				scanned = append(scanned, name)
			}
		}
		if strings.HasPrefix(strings.TrimSpace(line), "Execution Time:") {
			took = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "Execution Time:"))
		}
	}
	var tables int
	if err := s.db.NewRaw("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('locations')").Scan(ctx, &tables); err != nil {
		return err
	}
	of := ""
	if tables > 0 {
		of = fmt.Sprintf(" of %d partitions", tables)
	}
	fmt.Fprintf(w, "partitionbench: %s: the plan of one day of the route reads %v%s; executed in %s\n", s.name, scanned, of, took)
	return nil
}

// expiry is the pruner's pass that expired the month on one side.
type expiry struct {
	side    string
	took    time.Duration
	dropped []retention.DroppedPartition
	deleted int64
}

// expireMonthOf runs the pruner on each side with its clock set so that
// the cutoff is the end of the expiring month, and times the pass.
func expireMonthOf(ctx context.Context, sides []*side, cutoff time.Time) ([]expiry, error) {
	var out []expiry
	for _, s := range sides {
		var before int
		if err := s.db.NewRaw("SELECT count(*) FROM locations WHERE device_id = ?", s.deviceID).Scan(ctx, &before); err != nil {
			return nil, err
		}
		p := retention.New(s.db, retention.Config{LocationRetention: time.Hour, Now: func() time.Time { return cutoff.Add(time.Hour) }},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		began := time.Now()
		rep, err := p.Pass(ctx, false)
		if err != nil {
			return nil, fmt.Errorf("expire on %s: %w", s.name, err)
		}
		e := expiry{side: s.name, took: time.Since(began), dropped: rep.Locations.Dropped, deleted: rep.Locations.Deleted}
		var left, after int
		if err := s.db.NewRaw("SELECT count(*) FROM locations WHERE device_id = ?", s.expireID).Scan(ctx, &left); err != nil {
			return nil, err
		}
		if err := s.db.NewRaw("SELECT count(*) FROM locations WHERE device_id = ?", s.deviceID).Scan(ctx, &after); err != nil {
			return nil, err
		}
		if left != 0 || after != before {
			return nil, fmt.Errorf("expire on %s: %d of the month's points left, route device %d → %d points", s.name, left, before, after)
		}
		out = append(out, e)
	}
	return out, nil
}

// convert migrates the one-table side up, which partitions its table,
// and times it.
func convert(ctx context.Context, s *side) (time.Duration, int, error) {
	var n int
	if err := s.db.NewRaw("SELECT count(*) FROM locations").Scan(ctx, &n); err != nil {
		return 0, 0, err
	}
	began := time.Now()
	if _, err := migrations.Up(ctx, s.db); err != nil {
		return 0, 0, fmt.Errorf("convert %s: %w", s.name, err)
	}
	return time.Since(began), n, nil
}

func printReport(w io.Writer, o options, results []result, expiries []expiry, conversion time.Duration, converted int) {
	fmt.Fprintf(w, "\n### Route and latest: %d points over %d months, %d requests of each kind on each side\n\n", o.points, o.months, o.requests)
	fmt.Fprintln(w, "| request | partitioned p50 ms | p99 ms | one table p50 ms | p99 ms | p50 partitioned ÷ one table |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, r := range results {
		p, f := r.lats["partitioned"], r.lats["one table"]
		ratio := float64(bench.Percentile(p, 50)) / float64(bench.Percentile(f, 50))
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.2f |\n", r.name,
			bench.Ms(bench.Percentile(p, 50)), bench.Ms(bench.Percentile(p, 99)),
			bench.Ms(bench.Percentile(f, 50)), bench.Ms(bench.Percentile(f, 99)), ratio)
	}
	fmt.Fprintf(w, "\n### Expiring a month of %d points (the pruner's pass)\n\n", o.expire)
	fmt.Fprintln(w, "| side | how | time | points/s |")
	fmt.Fprintln(w, "|---|---|---:|---:|")
	for _, e := range expiries {
		how := fmt.Sprintf("batched DELETE (%d points)", e.deleted)
		if len(e.dropped) > 0 {
			var names []string
			for _, d := range e.dropped {
				names = append(names, fmt.Sprintf("%s, %d points", d.Name, d.Points))
			}
			how = "partition dropped (" + strings.Join(names, "; ") + ")"
			if e.deleted > 0 {
				how += fmt.Sprintf(" and %d deleted", e.deleted)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f |\n", e.side, how, e.took.Round(time.Millisecond), float64(o.expire)/e.took.Seconds())
	}
	fmt.Fprintf(w, "\nMigration %s converted the one table of %d points into monthly partitions in %s (%.0f points/s).\n",
		partitionMigration, converted, conversion.Round(time.Millisecond), float64(converted)/conversion.Seconds())
}

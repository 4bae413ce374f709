package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/tracking"
)

// The tracking benchmarks (issue "Devices and locations"). They need a
// PostgreSQL server (BENCH_DATABASE_URL or TEST_DATABASE_URL) and are
// skipped without one, except the SQLite ones. Run them all with
//
//	BENCH_DATABASE_URL=postgres://… go test ./bench -run '^$' -bench . -benchtime 5s
//
// TestMain prints a table of the results against their targets.

const (
	latestConns = 32
	routePoints = 500_000
	routeLimit  = 10_000
	batchPoints = 1000
)

func TestMain(m *testing.M) {
	code := m.Run()
	closeEnvs()
	printSummary(os.Stdout)
	os.Exit(code)
}

var dialects = []string{"postgres", "sqlite"}

func forEachDialect(b *testing.B, fn func(b *testing.B, e *env)) {
	for _, d := range dialects {
		b.Run(d, func(b *testing.B) {
			if d == "postgres" {
				skipWithoutPostgres(b)
			}
			fn(b, getEnv(b, d))
		})
	}
}

// parallel runs b.N calls of fn on conns workers, each its own keep-alive
// connection, after one untimed call per worker, and returns every call's
// latency. It stops early on the first error, and after 10 minutes.
func parallel(b *testing.B, e *env, conns int, fn func(c *bench.Conn, worker, i int) error) ([]time.Duration, cpuUse) {
	addr := e.addr
	b.Helper()
	cs := make([]*bench.Conn, conns)
	for i := range cs {
		c, err := bench.Dial(addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	var (
		next     atomic.Int64
		failed   atomic.Bool
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, conns)
		start    = make(chan struct{})
		ready    sync.WaitGroup
		deadline = time.Now().Add(10 * time.Minute)
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	ready.Add(conns)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w]
			if err := fn(c, w, -1); err != nil { // warms the connection
				fail(err)
			}
			ready.Done()
			<-start
			for !failed.Load() && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := fn(c, w, int(i)); err != nil {
					fail(err)
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}(w)
	}
	ready.Wait()
	before := e.readCPU()
	b.ResetTimer()
	close(start)
	wg.Wait()
	b.StopTimer()
	use := e.readCPU().since(before, b.N)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return all, use
}

// BenchmarkLatest: GET /api/locations/{id}/latest from 32 users at once,
// each polling their own device. Target on PostgreSQL: ≥ 4,000 req/s with
// p99 ≤ 10 ms.
func BenchmarkLatest(b *testing.B) {
	forEachDialect(b, func(b *testing.B, e *env) {
		e.seedLatest(b)
		reqs := make([][]byte, latestConns)
		for w, o := range e.latest {
			reqs[w] = bench.Request(nil, http.MethodGet, e.addr, fmt.Sprintf("/api/locations/%d/latest", o.deviceID),
				[]string{"Authorization: Bearer " + o.token}, nil)
		}
		lats, use := parallel(b, e, latestConns, func(c *bench.Conn, w, _ int) error {
			_, err := do(c, reqs[w], http.StatusOK)
			return err
		})
		report(b, lats, use, nil)
	})
}

// BenchmarkRoute: GET …/route?limit=10000 of a device holding 500,000
// points, a page at a random place of them, one request at a time. Target
// on PostgreSQL: p50 ≤ 40 ms. gzip: the client asks for it (and the time
// includes compressing, not the client's decompressing).
func BenchmarkRoute(b *testing.B) {
	forEachDialect(b, func(b *testing.B, e *env) {
		e.seedRoute(b)
		for _, v := range []struct{ name, query, encoding string }{
			{"json", "", ""},
			{"json-gzip", "", "gzip"},
			{"geojson-gzip", "&format=geojson", "gzip"},
		} {
			b.Run(v.name, func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				to := time.UnixMilli(e.routeFrom + routePoints*1000).UTC().Format(time.RFC3339)
				headers := []string{"Authorization: Bearer " + e.route.token}
				if v.encoding != "" {
					headers = append(headers, "Accept-Encoding: "+v.encoding)
				}
				var req []byte
				lats, use := parallel(b, e, 1, func(c *bench.Conn, _, _ int) error {
					from := e.routeFrom + int64(rng.IntN(routePoints-routeLimit))*1000
					path := fmt.Sprintf("/api/locations/%d/route?from=%s&to=%s&limit=%d%s", e.route.deviceID,
						time.UnixMilli(from).UTC().Format(time.RFC3339), to, routeLimit, v.query)
					req = bench.Request(req[:0], http.MethodGet, e.addr, path, headers, nil)
					_, err := do(c, req, http.StatusOK)
					return err
				})
				report(b, lats, use, nil)
			})
		}
	})
}

// BenchmarkIngest: POST /api/ingest/locations with 1000-point batches of
// new points, from one device, and from 4 devices at once. Targets: ≥
// 25,000 points/s on PostgreSQL, ≥ 50,000 on SQLite.
func BenchmarkIngest(b *testing.B) {
	forEachDialect(b, func(b *testing.B, e *env) {
		for _, devices := range []int{1, 4} {
			b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
				ds := e.ingestDevices(b, devices)
				reqs := make([][]byte, devices)
				lats, use := parallel(b, e, devices, func(c *bench.Conn, w, _ int) error {
					body, err := ds[w].batch()
					if err != nil {
						return err
					}
					reqs[w] = bench.Request(reqs[w][:0], http.MethodPost, e.addr, "/api/ingest/locations", []string{
						"Authorization: Bearer " + ds[w].token,
						"Content-Type: application/json",
					}, body)
					resp, err := do(c, reqs[w], http.StatusOK)
					if err != nil {
						return err
					}
					var out struct{ Stored int }
					if err := json.Unmarshal(resp, &out); err != nil || out.Stored != batchPoints {
						return fmt.Errorf("ingest stored %d of %d points (%v): %.200s", out.Stored, batchPoints, err, resp)
					}
					return nil
				})
				report(b, lats, use, func(ns float64) (string, float64) { return "points/s", batchPoints * 1e9 / ns })
			})
		}
	})
}

// report adds the percentiles and the rate to the benchmark's line and
// keeps them for the summary. rate turns ns/op into a custom rate;
// nil means requests per second.
func report(b *testing.B, lats []time.Duration, use cpuUse, rate func(nsPerOp float64) (string, float64)) {
	b.Helper()
	if len(lats) == 0 {
		return
	}
	nsPerOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	unit, r := "req/s", 1e9/nsPerOp
	if rate != nil {
		unit, r = rate(nsPerOp)
	}
	p50, p99 := bench.Percentile(lats, 50), bench.Percentile(lats, 99)
	b.ReportMetric(r, unit)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	record(b.Name(), result{n: b.N, rate: r, unit: unit, p50: p50, p99: p99, cpu: use})
}

// seedLatest creates 32 users, each with a device that has reported one fix.
func (e *env) seedLatest(b *testing.B) {
	e.latestOnce.Do(func() {
		ctx := context.Background()
		for i := 0; i < latestConns; i++ {
			o, err := e.newOwner(ctx, fmt.Sprintf("user_latest_%d", i))
			if err != nil {
				b.Fatal(err)
			}
			acc, batt := 4.8, 87.0
			_, err = e.track.Ingest(ctx, o.deviceID, []tracking.Location{{
				RecordedAt: time.Now().Add(-time.Minute), Lat: 52.520008, Lon: 13.404954, AccuracyM: &acc, BatteryPct: &batt,
			}})
			if err != nil {
				b.Fatal(err)
			}
			e.latest = append(e.latest, o)
		}
	})
	if len(e.latest) != latestConns {
		b.Fatal("seeding the latest benchmark failed earlier")
	}
}

// seedRoute writes 500,000 points, one a second, for one device, directly
// in SQL (a single INSERT … SELECT), and ANALYZEs.
func (e *env) seedRoute(b *testing.B) {
	e.routeOnce.Do(func() {
		ctx := context.Background()
		o, err := e.newOwner(ctx, "user_route")
		if err != nil {
			b.Fatal(err)
		}
		from := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second).UnixMilli()
		start := time.Now()
		cols := `device_id, recorded_at, received_at, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg, battery_pct`
		vals := `?, ? + g * 1000, ? + g * 1000 + 1500, 52.52 + (g % 2000) * 0.00001, 13.40 + (g % 3000) * 0.00001,
			4.8, 41.2, 1.39, (g % 360) * 1.0, 100 - (g % 100)`
		q := `INSERT INTO locations (` + cols + `) SELECT ` + vals + ` FROM generate_series(0, ? - 1) AS g`
		args := []any{o.deviceID, from, from, routePoints}
		if e.dialect == "sqlite" { // no generate_series: a recursive CTE
			q = `WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g + 1 < ?)
				INSERT INTO locations (` + cols + `) SELECT ` + vals + ` FROM s`
			args = []any{routePoints, o.deviceID, from, from}
		}
		if _, err := e.db.ExecContext(ctx, q, args...); err != nil {
			b.Fatalf("seed %d points: %v", routePoints, err)
		}
		if _, err := e.db.ExecContext(ctx, "ANALYZE locations"); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "seeded %d points on %s in %s\n", routePoints, e.dialect, time.Since(start).Round(time.Millisecond))
		e.route, e.routeFrom = o, from

		// One page, checked: 10,000 points and a cursor to the next.
		path := fmt.Sprintf("/api/locations/%d/route?from=%s&to=%s&limit=%d", o.deviceID,
			time.UnixMilli(from).UTC().Format(time.RFC3339), time.UnixMilli(from+routePoints*1000).UTC().Format(time.RFC3339), routeLimit)
		c, err := bench.Dial(e.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		body, err := do(c, bench.Request(nil, http.MethodGet, e.addr, path, []string{"Authorization: Bearer " + o.token}, nil), http.StatusOK)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Count      int     `json:"count"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil || page.Count != routeLimit || page.NextCursor == nil {
			b.Fatalf("route page: count %d, cursor %v, err %v", page.Count, page.NextCursor, err)
		}
	})
	if e.route.token == "" {
		b.Fatal("seeding the route benchmark failed earlier")
	}
}

// ingestDevice reports points one second apart, starting 300 days ago, so
// that every batch is new and within LOCATION_MAX_AGE.
type ingestDevice struct {
	token string
	next  int64 // ms of the next point
	rng   *rand.Rand
}

func (e *env) ingestDevices(b *testing.B, n int) []*ingestDevice {
	e.ingestMu.Lock()
	defer e.ingestMu.Unlock()
	for len(e.ingest) < n {
		o, err := e.newOwner(context.Background(), "user_ingest_"+strconv.Itoa(len(e.ingest)))
		if err != nil {
			b.Fatal(err)
		}
		e.ingest = append(e.ingest, &ingestDevice{
			token: o.ingestToken,
			next:  time.Now().Add(-300 * 24 * time.Hour).UnixMilli(),
			rng:   rand.New(rand.NewPCG(uint64(len(e.ingest)), 7)),
		})
	}
	return e.ingest[:n]
}

// batch is the body of the device's next 1000 points, as a tracker app
// sends them (every field set).
func (d *ingestDevice) batch() ([]byte, error) {
	if d.next+batchPoints*1000 > time.Now().Add(-time.Hour).UnixMilli() {
		return nil, fmt.Errorf("ingest device ran out of past: more batches than the benchmark can make")
	}
	buf := make([]byte, 0, batchPoints*210)
	buf = append(buf, `{"locations":[`...)
	lat, lon := 52.52, 13.40
	for i := 0; i < batchPoints; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		lat += (d.rng.Float64() - 0.5) * 0.0002
		lon += (d.rng.Float64() - 0.5) * 0.0002
		buf = bench.AppendLocation(buf, d.next, lat, lon, i%360)
		d.next += 1000
	}
	buf = append(buf, `]}`...)
	return buf, nil
}

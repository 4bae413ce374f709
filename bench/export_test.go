package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// The export and summary benchmarks (issue "Trackers as they really are"):
// GET …/export of 500,000 points as CSV and GPX, against PostgreSQL's own
// COPY (SELECT …) TO STDOUT WITH CSV of the same rows, and GET …/summary
// over the same points against the equivalent SQL aggregate, all in one
// run on one database. The server is the real binary (cmd/usersync, built
// here) in a process of its own, so that its peak RSS (VmHWM, reset before
// each sub-benchmark) is the server's alone; the client streams each
// response into a counter. PostgreSQL only:
//
//	BENCH_DATABASE_URL=postgres://… go test ./bench -run '^$' -bench ExportSummary -benchtime 5x

const exportPoints = 500_000

// exportColumns are the Location's columns in the CSV export's order.
const exportColumns = `recorded_at, received_at, lat, lon, accuracy_m, altitude_m, speed_mps, course_deg, battery_pct,
	motion, odometer_m, charging, activity, event, alarm`

func BenchmarkExportSummary(b *testing.B) {
	skipWithoutPostgres(b)
	x := newExportBench(b)
	if err := x.checkSummary(); err != nil {
		b.Fatal(err)
	}
	var rows []exportRow // the last run of each sub-benchmark (b.N grows from 1)

	run := func(name, format, unit string, op func() (int64, error)) {
		b.Run(name, func(b *testing.B) {
			x.resetPeak()
			cpu0 := bench.ProcessCPU(x.pid())
			var (
				lats  []time.Duration
				bytes int64
			)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				n, err := op()
				if err != nil {
					b.Fatal(err)
				}
				lats = append(lats, time.Since(t0))
				bytes = n
			}
			b.StopTimer()
			slices.Sort(lats)
			hwm, _ := bench.MemoryKB(x.pid())
			r := exportRow{name: name, format: format, unit: unit, p50: bench.Percentile(lats, 50), bytes: bytes,
				serverCPU: time.Duration((bench.ProcessCPU(x.pid()) - cpu0) / float64(b.N) * float64(time.Second)), serverHWM: hwm}
			b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(hwm)/1024, "server-peak-MiB")
			if i := slices.IndexFunc(rows, func(o exportRow) bool { return o.name == name }); i >= 0 {
				rows[i] = r
			} else {
				rows = append(rows, r)
			}
		})
	}
	run("copy-csv", "export", "PostgreSQL COPY … TO STDOUT WITH CSV", x.copyCSV)
	run("export-csv", "export", "GET …/export?format=csv", func() (int64, error) { return x.export("csv", "", "\n", exportPoints+1) })
	run("export-csv-gzip", "export", "GET …/export?format=csv, gzip", func() (int64, error) { return x.export("csv", "gzip", "", 0) })
	run("export-gpx", "export", "GET …/export?format=gpx", func() (int64, error) { return x.export("gpx", "", "<trkpt ", exportPoints) })
	run("sql-summary", "summary", "the same summary as one SQL aggregate (LAG, haversine)", x.sqlSummary)
	run("summary", "summary", "GET …/summary", x.summary)
	printExportRows(os.Stdout, rows)
}

type exportRow struct {
	name, format, unit string
	p50                time.Duration
	bytes              int64
	serverCPU          time.Duration // usersync's CPU per operation (none for the SQL ones)
	serverHWM          int64         // KiB
}

func printExportRows(w io.Writer, rows []exportRow) {
	base := map[string]time.Duration{}
	for _, r := range rows {
		if strings.HasPrefix(r.name, "copy-") || strings.HasPrefix(r.name, "sql-") {
			base[r.format] = r.p50
		}
	}
	fmt.Fprintf(w, "\n%d points, PostgreSQL; p50 of whole operations; ratio = p50 ÷ PostgreSQL's own (COPY, or the SQL aggregate).\n", exportPoints)
	fmt.Fprintln(w, "usersync peak RSS: VmHWM of the server process, reset before each row.")
	fmt.Fprintln(w, "\n| what | p50 ms | ratio | body bytes | usersync CPU ms/op | usersync peak RSS MiB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		ratio := "—"
		if b := base[r.format]; b > 0 && !strings.HasPrefix(r.name, "copy-") && !strings.HasPrefix(r.name, "sql-") {
			ratio = fmt.Sprintf("%.2f", float64(r.p50)/float64(b))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %.1f |\n", r.unit, bench.Ms(r.p50), ratio, r.bytes, bench.Ms(r.serverCPU), float64(r.serverHWM)/1024)
	}
}

// exportBench is a database of 500,000 points of one device and a usersync
// process serving it.
type exportBench struct {
	dbURL    string
	deviceID int64
	token    string // the owner's session token
	from, to time.Time
	pg       *pgx.Conn
	srv      *bench.Process
	base     string
	client   *http.Client
}

func newExportBench(b *testing.B) *exportBench {
	b.Helper()
	ctx := context.Background()
	x := &exportBench{client: &http.Client{Transport: &http.Transport{DisableCompression: true}}}
	dbURL, drop, err := bench.CreateDatabase(ctx, bench.DatabaseURL(), "usersync_bench_export")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := drop(); err != nil {
			fmt.Fprintln(os.Stderr, "drop database:", err)
		}
	})
	x.dbURL = dbURL
	clerk, err := bench.NewClerk()
	if err != nil {
		b.Fatal(err)
	}
	if err := x.seed(ctx, clerk); err != nil {
		b.Fatal(err)
	}
	if x.pg, err = pgx.Connect(ctx, dbURL); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.pg.Close(context.Background()) })
	if err := x.start(b, clerk); err != nil {
		b.Fatal(err)
	}
	return x
}

// seed creates the owner and the device and writes 500,000 points, one a
// second ending an hour ago, with every attribute a Traccar Client 9.x
// point has, in one INSERT … SELECT; then ANALYZE.
func (x *exportBench) seed(ctx context.Context, clerk *bench.Clerk) error {
	db, err := migrations.Open(ctx, x.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := migrations.Up(ctx, db); err != nil {
		return err
	}
	email := "export@example.com"
	u, err := users.NewService(db).Upsert(ctx, users.Write{ClerkUserID: "user_export", Email: &email, Version: time.Now(), Writer: users.WriterSync})
	if err != nil {
		return err
	}
	d, _, err := tracking.NewService(db, tracking.Config{}).CreateDevice(ctx, u.User.ID, tracking.NewDevice{Name: "Bench tracker"})
	if err != nil {
		return err
	}
	x.deviceID = d.ID
	if x.token, err = clerk.Token("user_export", time.Now().Add(-time.Second), 2*time.Hour); err != nil {
		return err
	}
	x.to = time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	x.from = x.to.Add(-exportPoints * time.Second)
	start := time.Now()
	_, err = db.ExecContext(ctx, `INSERT INTO locations (device_id, `+exportColumns+`)
		SELECT ?, ? + g * 1000, ? + g * 1000 + 1500, 52.52 + (g % 2000) * 0.00001, 13.40 + (g % 3000) * 0.00001,
			4.8, 41.2 + (g % 50) * 0.1, 1.39 + (g % 7) * 0.5, (g % 360) * 1.0, 100 - (g % 100),
			g % 10 <> 0, 1000.0 + g * 1.4, g % 50 = 0, CASE WHEN g % 10 = 0 THEN 'still' ELSE 'walking' END,
			CASE WHEN g % 600 = 0 THEN 'motionchange' END, NULL
		FROM generate_series(0, ? - 1) AS g`, x.deviceID, x.from.UnixMilli(), x.from.UnixMilli(), exportPoints)
	if err != nil {
		return fmt.Errorf("seed %d points: %w", exportPoints, err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE locations"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded %d points in %s\n", exportPoints, time.Since(start).Round(time.Millisecond))
	return nil
}

// start builds cmd/usersync and runs it on the database, rate limits off,
// until the benchmark ends (SIGTERM to this process only).
func (x *exportBench) start(b *testing.B, clerk *bench.Clerk) error {
	root, err := bench.ModuleRoot()
	if err != nil {
		return err
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "usersync")
	if err := bench.Build(context.Background(), root, "./cmd/usersync", bin); err != nil {
		return err
	}
	env := map[string]string{"DATABASE_URL": x.dbURL, "CLERK_JWT_KEY": clerk.PublicPEM(), "RATE_LIMIT_RPS": "0",
		"LOG_LEVEL": "warn", "MIGRATE_ON_START": "false", "CLERK_MAX_TOKEN_LIFETIME": bench.MaxTokenLifetime.String()}
	x.srv, err = bench.StartProcess(context.Background(), bin, dir, filepath.Join(dir, "usersync.log"), env, false)
	if err != nil {
		return err
	}
	b.Cleanup(func() { _ = x.srv.Stop() })
	x.base = x.srv.Base
	return nil
}

func (x *exportBench) pid() int { return x.srv.Pid() }

// resetPeak sets the server's VmHWM to its current RSS (Linux ≥ 4.0), so
// that the next reading is the peak of what follows.
func (x *exportBench) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", x.pid()), []byte("5"), 0)
}

func (x *exportBench) query(route string, q string) string {
	return fmt.Sprintf("%s/api/locations/%d/%s?from=%s&to=%s%s", x.base, x.deviceID, route,
		x.from.Format(time.RFC3339), x.to.Format(time.RFC3339), q)
}

// export streams one export into a counter and checks that it holds
// want occurrences of marker (when marker is set).
func (x *exportBench) export(format, encoding, marker string, want int) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, x.query("export", "&format="+format), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+x.token)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	res, err := x.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		return 0, fmt.Errorf("export: %d %s", res.StatusCode, body)
	}
	c := &counter{marker: []byte(marker)}
	n, err := io.Copy(c, res.Body)
	if err != nil {
		return n, err
	}
	if marker != "" && c.hits != want {
		return n, fmt.Errorf("export %s: %d of %q, want %d", format, c.hits, marker, want)
	}
	return n, nil
}

// copyCSV is PostgreSQL's own export of the same rows.
func (x *exportBench) copyCSV() (int64, error) {
	c := &counter{marker: []byte("\n")}
	tag, err := x.pg.PgConn().CopyTo(context.Background(), c, fmt.Sprintf(`COPY (SELECT %s FROM locations
		WHERE device_id = %d AND recorded_at >= %d AND recorded_at < %d ORDER BY recorded_at) TO STDOUT WITH CSV HEADER`,
		exportColumns, x.deviceID, x.from.UnixMilli(), x.to.UnixMilli()))
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() != exportPoints || c.hits != exportPoints+1 {
		return c.n, fmt.Errorf("COPY: %d rows, %d lines", tag.RowsAffected(), c.hits)
	}
	return c.n, nil
}

// summaryOut is the summary as both sides compute it.
type summaryOut struct {
	Points    int64      `json:"points"`
	DistanceM float64    `json:"distance_m"`
	MaxSpeed  float64    `json:"max_speed_mps"`
	BBox      [4]float64 `json:"bbox"`
}

func (x *exportBench) summary() (int64, error) {
	_, n, err := x.getSummary()
	return n, err
}

func (x *exportBench) getSummary() (summaryOut, int64, error) {
	var s summaryOut
	req, err := http.NewRequest(http.MethodGet, x.query("summary", ""), nil)
	if err != nil {
		return s, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+x.token)
	res, err := x.client.Do(req)
	if err != nil {
		return s, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return s, 0, err
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &s) != nil || s.Points != exportPoints {
		return s, 0, fmt.Errorf("summary: %d %s", res.StatusCode, body)
	}
	return s, int64(len(body)), nil
}

// checkSummary: the route and the SQL aggregate agree, so that the two
// measure the same work.
func (x *exportBench) checkSummary() error {
	got, _, err := x.getSummary()
	if err != nil {
		return err
	}
	want, err := x.sqlAggregate()
	if err != nil {
		return err
	}
	if got.Points != want.Points || math.Abs(got.DistanceM-want.DistanceM) > 1e-6*want.DistanceM ||
		got.MaxSpeed != want.MaxSpeed || got.BBox != want.BBox {
		return fmt.Errorf("summary %+v, the SQL aggregate says %+v", got, want)
	}
	return nil
}

// sqlSummary times the SQL aggregate alone.
func (x *exportBench) sqlSummary() (int64, error) {
	s, err := x.sqlAggregate()
	if err != nil {
		return 0, err
	}
	if s.Points != exportPoints {
		return 0, fmt.Errorf("SQL aggregate: %d points", s.Points)
	}
	return 0, nil
}

// sqlAggregate is the summary in one statement: the haversine of each
// point and the one before it (LAG), summed, with the other aggregates.
func (x *exportBench) sqlAggregate() (summaryOut, error) {
	var s summaryOut
	err := x.pg.QueryRow(context.Background(), `
		SELECT count(*), coalesce(sum(2 * 6371008.8 * asin(sqrt(least(1,
		           power(sin(radians(lat - plat) / 2), 2) + cos(radians(plat)) * cos(radians(lat)) * power(sin(radians(lon - plon) / 2), 2)))))
		           FILTER (WHERE plat IS NOT NULL), 0), -- least() skips NULLs: the first point would count half the Earth
		       max(speed_mps), min(lon), min(lat), max(lon), max(lat)
		FROM (SELECT lat, lon, speed_mps, lag(lat) OVER w AS plat, lag(lon) OVER w AS plon
		      FROM locations WHERE device_id = $1 AND recorded_at >= $2 AND recorded_at < $3
		      WINDOW w AS (ORDER BY recorded_at)) AS p`,
		x.deviceID, x.from.UnixMilli(), x.to.UnixMilli()).
		Scan(&s.Points, &s.DistanceM, &s.MaxSpeed, &s.BBox[0], &s.BBox[1], &s.BBox[2], &s.BBox[3])
	if errors.Is(err, pgx.ErrNoRows) {
		return s, errors.New("SQL aggregate: no row")
	}
	return s, err
}

// counter counts the bytes written to it and the occurrences of marker,
// also across two writes.
type counter struct {
	marker []byte
	n      int64
	hits   int
	tail   []byte // the last len(marker)-1 bytes written
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	m := len(c.marker)
	if m == 0 {
		return len(p), nil
	}
	// A marker across the boundary lies in tail + the first m-1 bytes of p;
	// one in p alone is counted from p.
	c.hits += bytes.Count(append(c.tail[:len(c.tail):len(c.tail)], p[:min(len(p), m-1)]...), c.marker)
	c.hits += bytes.Count(p, c.marker)
	c.tail = append(c.tail, p[max(0, len(p)-(m-1)):]...)
	c.tail = c.tail[max(0, len(c.tail)-(m-1)):]
	return len(p), nil
}

func TestCounterFindsMarkersAcrossWrites(t *testing.T) {
	text := []byte(strings.Repeat(`<trkpt lat="1" lon="2"></trkpt>`+"\n", 1000))
	for _, size := range []int{1, 2, 3, 7, 64, 4096, len(text)} {
		c := &counter{marker: []byte("<trkpt ")}
		for chunk := range slices.Chunk(text, size) {
			c.Write(chunk)
		}
		if c.hits != 1000 || c.n != int64(len(text)) {
			t.Errorf("writes of %d bytes: %d markers in %d bytes, want 1000 in %d", size, c.hits, c.n, len(text))
		}
	}
}

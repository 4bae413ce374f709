package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/usersync/usersync/bench"
)

type runner struct {
	o      options
	root   string
	out    io.Writer
	binary string

	pg    bench.Database
	clerk *bench.Clerk
	env   map[string]string
	srv   *bench.Process
	limit syscall.Rlimit

	users    []*user
	streams  []*stream // the load's streams, open
	received atomic.Int64

	idle idleFigures
	load loadFigures
}

// idleFigures is the memory reading at the idle streams.
type idleFigures struct {
	streams                 int
	open                    time.Duration // to open them all and have every snapshot
	rssBefore, rssAfter     int64         // KiB, VmRSS
	heapBefore, heapAfter   float64       // go_memstats_heap_inuse_bytes
	stackBefore, stackAfter float64       // go_memstats_stack_inuse_bytes
	goBefore, goAfter       float64       // go_goroutines
	gauge                   float64       // live_streams_open with the idle streams open
	profile                 string        // heap profile file, with -pprof
}

// loadFigures is the reading of the load.
type loadFigures struct {
	streams         int
	sent            *sendResult
	tally           tally
	window          float64 // seconds, CPU window (the sending)
	server, pg, gen float64 // CPU cores
	other           float64
	hist            bench.Histogram // the server's live_commit_to_send_seconds during the load
	sentEvents      float64         // live_stream_events_total{type="location"} during the load
	poolWaits       float64         // go_sql_wait_count_total: queries that waited for one of the server's connections
	poolWait        float64         // go_sql_wait_duration_seconds_total, seconds
	xacts           int64           // PostgreSQL transactions in the database (pg_stat_database)
	drained         bool
	drain           time.Duration // from the last answer until every owed event was read
	loadavg         [2]string     // /proc/loadavg before and after
	profile         string        // CPU profile file, with -pprof
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "# "+format+"\n", args...)
}

func (r *runner) setup(ctx context.Context) error {
	pkg, name := "./cmd/usersync", "usersync"
	if r.o.pprof {
		pkg, name = "./bench/cmd/pprofserver", "usersync-pprof"
	}
	r.binary = filepath.Join(r.o.outDir, name)
	r.logf("building %s into %s", pkg, r.binary)
	if err := bench.Build(ctx, r.root, pkg, r.binary); err != nil {
		return err
	}

	// Each stream is a socket in both processes; the load adds one per
	// device, and the server's pool and files need some more.
	var err error
	if r.limit, err = raiseFileLimit(uint64(r.o.idle + r.o.users + 1024)); err != nil {
		return err
	}
	if err := r.pg.Create(ctx, r.o.baseURL, "usersync_livebench"); err != nil {
		return err
	}
	r.logf("database %s (dropped at the end unless -keep)", bench.Redact(r.pg.URL))
	if r.clerk, err = bench.NewClerk(); err != nil {
		return err
	}
	perUser := (r.o.idle + r.o.users - 1) / r.o.users
	r.env = map[string]string{
		"DATABASE_URL":   r.pg.URL,
		"CLERK_JWT_KEY":  r.clerk.PublicPEM(),
		"RATE_LIMIT_RPS": "0",
		// Its tokens are minted before the run and must outlive it.
		"CLERK_MAX_TOKEN_LIFETIME": bench.MaxTokenLifetime.String(),
		"LOG_LEVEL":                "info",
		"LOG_FORMAT":               "json",
		// The defaults (10 a user, 10,000 in all) hold the default
		// layout; larger ones raise them.
		"STREAM_MAX_PER_USER": strconv.Itoa(max(10, perUser)),
		"STREAM_MAX":          strconv.Itoa(max(10_000, r.o.idle)),
	}
	if r.srv, err = bench.StartProcess(ctx, r.binary, r.o.outDir, filepath.Join(r.o.outDir, name+".log"), r.env, r.o.pprof); err != nil {
		return err
	}
	r.logf("%s pid %d on %s; open files: this process %d, the server %s; STREAM_MAX_PER_USER=%s STREAM_MAX=%s",
		name, r.srv.Pid(), r.srv.Addr, r.limit.Cur, openFilesLimit(r.srv.Pid()), r.env["STREAM_MAX_PER_USER"], r.env["STREAM_MAX"])
	if err := r.pg.Open(ctx); err != nil {
		return err
	}

	start := time.Now()
	if r.users, err = seedUsers(ctx, r.srv.Addr, r.clerk, r.o.users, 16); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	r.logf("%d users synced, each with a device that reported one point, through the server's routes, in %s",
		len(r.users), time.Since(start).Round(time.Millisecond))
	return nil
}

// specs lays the streams out: user u's i-th stream follows all of u's
// devices when i is even, u's device by device_id when i is odd. The
// first -streams of each user stay open for the load.
func (r *runner) specs() (specs []streamSpec, keep []bool) {
	for i := 0; i < r.o.idle; i++ {
		u := r.users[i%len(r.users)]
		nth := i / len(r.users) // u's nth stream
		specs = append(specs, streamSpec{u: u, byDevice: nth%2 == 1})
		keep = append(keep, nth < r.o.streams)
	}
	return specs, keep
}

// idlePhase opens the idle streams, reads the server's memory, then
// closes all but the load's.
func (r *runner) idlePhase(ctx context.Context) error {
	f := &r.idle
	f.streams = r.o.idle
	if err := sleep(ctx, 2*time.Second); err != nil { // let the seeding's garbage settle
		return err
	}
	f.rssBefore = r.rss(ctx)
	m, err := bench.ScrapeMetrics(r.srv.Base)
	if err != nil {
		return err
	}
	f.heapBefore, f.stackBefore, f.goBefore = m.Value("go_memstats_heap_inuse_bytes"), m.Value("go_memstats_stack_inuse_bytes"), m.Value("go_goroutines")

	specs, keep := r.specs()
	start := time.Now()
	all, err := openStreams(ctx, r.srv.Addr, specs, r.o.openConns, &r.received, 2*time.Minute)
	if err != nil {
		return err
	}
	f.open = time.Since(start)
	r.logf("%d idle streams open, each with its snapshot, in %s", len(all), f.open.Round(time.Millisecond))
	// The server's memory settles as the opening's garbage is collected
	// and its pages go back to the kernel: read it for a while.
	var trail []string
	for t := time.Second; t <= r.o.settle; t += time.Second {
		if err := sleep(ctx, time.Second); err != nil {
			closeStreams(all)
			return err
		}
		if t%(5*time.Second) == 0 || t == r.o.settle {
			_, rss := bench.MemoryKB(r.srv.Pid())
			trail = append(trail, fmt.Sprintf("%s %s", t, mib(rss)))
		}
	}
	r.logf("server VmRSS (MiB) since the last stream opened: %s", strings.Join(trail, ", "))
	f.rssAfter = r.rss(ctx)
	if m, err = bench.ScrapeMetrics(r.srv.Base); err != nil {
		closeStreams(all)
		return err
	}
	f.heapAfter, f.stackAfter, f.goAfter = m.Value("go_memstats_heap_inuse_bytes"), m.Value("go_memstats_stack_inuse_bytes"), m.Value("go_goroutines")
	f.gauge = m.Value("live_streams_open")
	if r.o.pprof {
		f.profile = filepath.Join(r.o.outDir, "idle.heap.pprof")
		if err := bench.Fetch("http://"+r.srv.Pprof+"/debug/pprof/heap", f.profile); err != nil {
			r.logf("heap profile: %v", err)
			f.profile = ""
		}
	}

	for i, st := range all {
		if keep[i] {
			r.streams = append(r.streams, st)
		} else {
			st.close()
		}
	}
	want := float64(len(r.streams))
	for deadline := time.Now().Add(30 * time.Second); ; {
		m, err := bench.ScrapeMetrics(r.srv.Base)
		if err == nil && m.Value("live_streams_open") == want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server still counts %v open streams 30 s after %d were closed; want %v", m.Value("live_streams_open"), len(all)-len(r.streams), want)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	r.logf("closed all but %d streams (%d a user) for the load", len(r.streams), r.o.streams)
	return nil
}

// rss is the server's VmRSS in KiB: the median of three readings half a
// second apart.
func (r *runner) rss(ctx context.Context) int64 {
	var v []int64
	for i := 0; i < 3; i++ {
		if i > 0 && sleep(ctx, 500*time.Millisecond) != nil {
			break
		}
		_, rss := bench.MemoryKB(r.srv.Pid())
		v = append(v, rss)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// loadPhase sends the points and reads what the streams received.
func (r *runner) loadPhase(ctx context.Context) error {
	f := &r.load
	f.streams = len(r.streams)
	f.loadavg[0] = bench.LoadAvg()
	before, err := bench.ScrapeMetrics(r.srv.Base)
	if err != nil {
		return err
	}
	pgBefore := bench.PostgresProcs(ctx, r.pg.DB.DB)
	xactsBefore := r.xacts(ctx)

	var (
		cpuBefore bench.CPU
		t0        time.Time
		profiled  = make(chan error, 1)
	)
	plan := sendPlan{rate: r.o.rate, duration: r.o.duration, batch: r.o.batch, maxPoints: r.o.maxPoints}
	plan.onStart = func() {
		cpuBefore, t0 = bench.ReadCPU(r.srv.Pid(), os.Getpid()), time.Now()
		if r.o.pprof {
			f.profile = filepath.Join(r.o.outDir, "load.cpu.pprof")
			secs := int(math.Max(1, math.Floor(r.o.duration.Seconds())))
			go func() {
				profiled <- bench.Fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.srv.Pprof, secs), f.profile)
			}()
		}
	}
	r.logf("sending %.0f points/s over %d devices for %s (%s), %d streams open", r.o.rate, len(r.users), r.o.duration, sendKind(r.o.batch), len(r.streams))
	if f.sent, err = send(ctx, r.srv.Addr, r.users, plan); err != nil {
		return err
	}
	cpuAfter := bench.ReadCPU(r.srv.Pid(), os.Getpid())
	f.window = time.Since(t0).Seconds()
	f.loadavg[1] = bench.LoadAvg()
	ours := bench.PostgresProcs(ctx, r.pg.DB.DB)
	for pid, v := range pgBefore {
		ours[pid] = ours[pid] || v
	}
	f.server = cpuAfter.Spent(cpuBefore, r.srv.Pid()) / f.window
	f.gen = cpuAfter.Spent(cpuBefore, os.Getpid()) / f.window
	for pid := range cpuAfter.Procs {
		if ours[pid] {
			f.pg += cpuAfter.Spent(cpuBefore, pid) / f.window
		}
	}
	f.other = max(0, (cpuAfter.Busy-cpuBefore.Busy)/f.window-f.server-f.gen-f.pg)

	// Wait for every owed event, then a second more for any duplicate.
	want := owed(r.streams, f.sent)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if r.got() >= want {
			f.drained = true
			f.drain = time.Since(f.sent.end)
			break
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	after, err := bench.ScrapeMetrics(r.srv.Base)
	if err != nil {
		return err
	}
	hb, err := before.Histogram("live_commit_to_send_seconds")
	if err != nil {
		return err
	}
	ha, err := after.Histogram("live_commit_to_send_seconds")
	if err != nil {
		return err
	}
	f.hist = ha.Since(hb)
	f.sentEvents = after.Value("live_stream_events_total", "type", "location") - before.Value("live_stream_events_total", "type", "location")
	f.poolWaits = after.Value("go_sql_wait_count_total") - before.Value("go_sql_wait_count_total")
	f.poolWait = after.Value("go_sql_wait_duration_seconds_total") - before.Value("go_sql_wait_duration_seconds_total")
	f.xacts = r.xacts(ctx) - xactsBefore
	f.tally = check(r.streams, f.sent)
	if r.o.pprof {
		if err := <-profiled; err != nil {
			r.logf("CPU profile: %v", err)
			f.profile = ""
		}
	}
	return nil
}

// xacts is the number of transactions PostgreSQL counted in the database
// (every statement outside a transaction is one); its statistics lag by
// up to a second, which the wait after the load covers.
func (r *runner) xacts(ctx context.Context) int64 {
	var n int64
	_ = r.pg.DB.QueryRowContext(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&n)
	return n
}

// got is how many location events the load's streams have read.
func (r *runner) got() int {
	n := 0
	for _, st := range r.streams {
		st.mu.Lock()
		n += len(st.got)
		st.mu.Unlock()
	}
	return n
}

func (r *runner) close() {
	var wg sync.WaitGroup
	for _, st := range r.streams {
		wg.Add(1)
		go func() { defer wg.Done(); st.close() }()
	}
	wg.Wait()
	if r.srv != nil {
		if err := r.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "livebench: server stop:", err)
		}
	}
	if err := r.pg.Drop(r.o.keep); err != nil {
		fmt.Fprintln(os.Stderr, "livebench: drop database:", err)
	}
}

// fanOut hands the indexes 0 to n-1 to workers goroutines running work,
// each ranging over next to its end, until ctx ends; it returns once every
// worker has.
func fanOut(ctx context.Context, n, workers int, work func(next <-chan int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(next)
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func sendKind(batch int) string {
	if batch == 1 {
		return "one OsmAnd report per point, as Traccar Client sends them"
	}
	return fmt.Sprintf("batch ingests of %d points", batch)
}

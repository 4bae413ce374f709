// Command livebench measures the live location stream (GET
// /api/locations/stream) of one usersync replica on PostgreSQL:
//
//   - commit-to-receive latency of location events, with 2,000 streams
//     open over 500 devices while points arrive at 1,000 a second, open
//     loop, as trackers send them (OsmAnd reports, or batches);
//   - that every point reaches every stream that follows its device,
//     exactly once and in recorded_at order;
//   - the server's memory per idle stream, at 5,000 idle streams;
//   - the CPU of the server, PostgreSQL and the load generator meanwhile.
//
// Run it from the repository root:
//
//	go run ./bench/cmd/livebench
//
// It builds cmd/usersync (or, with -pprof, bench/cmd/pprofserver, the same
// server with pprof on a second loopback listener, and then profiles it),
// creates a database (dropped at the end), starts the binary on it with
// rate limits off, and drives it from this process over 127.0.0.1 only.
// Every phase is bounded in time and in count. See bench/README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/usersync/usersync/bench"
)

type options struct {
	baseURL   string
	users     int // one device each
	streams   int // per user, during the load
	idle      int // idle streams for the memory figure
	rate      float64
	duration  time.Duration
	batch     int
	maxPoints int
	openConns int
	settle    time.Duration // idle streams open before the memory reading
	pprof     bool
	keep      bool
	outDir    string
}

// Targets of issue 12.
const (
	targetP99         = 100 * time.Millisecond
	targetKBPerStream = 40.0
)

func main() {
	bench.Main("livebench", run)
}

func parseOptions(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := bench.Flags("livebench", stdout, &o.baseURL, "a database is created on it and dropped")
	fs.IntVar(&o.users, "users", 500, "users, each with one device")
	fs.IntVar(&o.streams, "streams", 4, "streams per user during the load: half follow all the user's devices, half the device by device_id")
	fs.IntVar(&o.idle, "idle", 5000, "idle streams open at once for the memory figure (spread evenly over the users)")
	fs.Float64Var(&o.rate, "rate", 1000, "points per second, all devices together")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long points are sent")
	fs.IntVar(&o.batch, "batch", 1, "points per request: 1 is an OsmAnd report (Traccar Client), more a batch ingest of that many")
	fs.IntVar(&o.maxPoints, "max-points", 300_000, "cap on the points sent")
	fs.IntVar(&o.openConns, "open-conns", 32, "streams being opened at a time")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "how long the idle streams stay open before the memory reading")
	fs.BoolVar(&o.pprof, "pprof", false, "run the pprof build (bench/cmd/pprofserver) and profile: heap at the idle streams, CPU during the load")
	fs.BoolVar(&o.keep, "keep", false, "keep the database")
	fs.StringVar(&o.outDir, "out", "", "folder for the binary, the server's log and profiles (default bench/out/livebench-<time>)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.users < 1 || o.users > 10_000:
		return o, fmt.Errorf("-users: want 1 to 10,000")
	case o.streams < 1 || o.idle < o.users*o.streams || o.idle > 15_000:
		return o, fmt.Errorf("-streams, -idle: want streams ≥ 1 and users × streams ≤ idle ≤ 15,000")
	case o.rate <= 0 || o.rate > 20_000:
		return o, fmt.Errorf("-rate: want more than 0 and at most 20,000 points/s")
	case o.duration <= 0 || o.duration > 5*time.Minute:
		return o, fmt.Errorf("-duration: want more than 0 and at most 5m")
	case o.batch < 1 || o.batch > 1000:
		return o, fmt.Errorf("-batch: want 1 to 1,000")
	case o.maxPoints < 1 || o.openConns < 1:
		return o, fmt.Errorf("-max-points, -open-conns: want at least 1")
	case o.settle < time.Second || o.settle > 5*time.Minute:
		return o, fmt.Errorf("-settle: want 1s to 5m")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, stdout)
	if err != nil {
		return err
	}
	// Everything below is bounded; this bounds the whole run as well.
	ctx, cancel := context.WithTimeout(ctx, o.duration+20*time.Minute)
	defer cancel()
	root, err := bench.ModuleRoot()
	if err != nil {
		return err
	}
	if o.outDir, err = bench.OutDir(root, o.outDir, "livebench-"); err != nil {
		return err
	}
	r := &runner{o: o, root: root, out: stdout}
	defer r.close()
	if err := r.setup(ctx); err != nil {
		return err
	}
	if err := r.idlePhase(ctx); err != nil {
		return err
	}
	if err := r.loadPhase(ctx); err != nil {
		return err
	}
	r.report()
	fmt.Fprintf(stdout, "\nserver log and profiles: %s\n", o.outDir)
	return nil
}

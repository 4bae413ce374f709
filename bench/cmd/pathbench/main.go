// Command pathbench measures usersync's hot paths against PostgreSQL's own
// limit for the same work (issue 11): for each route, pgbench running the
// statements the service issues for one request, with -M prepared (and
// -M simple beside it), on the same database, in the same run, from the
// same table state.
//
//	go run ./bench/cmd/pathbench            # from the repository root
//
// It builds cmd/usersync, creates a database (dropped at the end), starts
// the real binary on it with rate limits off, a generated CLERK_JWT_KEY and
// a generated Svix secret, seeds 10,000 users with a device each, and
// measures through HTTP, with bench.Conn's lean HTTP/1.1 client:
//
//   - POST /api/auth/sync, each user's token reused, and fresh tokens;
//   - POST /api/webhooks/clerk, Svix-signed user.updated;
//   - GET /api/locations/{id}/latest, each user polling their own device;
//   - GET /api/ingest/osmand, one new point a request;
//   - POST /api/ingest/locations, 1,000 new points a request, at 4 connections;
//
// each beside its pgbench reference (bench/pgbench/*.sql), and prints the
// ratios, p50/p99, errors, CPU per request of usersync, PostgreSQL and the
// load generator, and the server's peak RSS against the goals. Then it
// profiles each route in a pprof build of the same server
// (bench/cmd/pprofserver). See bench/README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/bench"
)

type options struct {
	baseURL       string
	warmup        time.Duration
	duration      time.Duration
	conns         []int
	batchConns    []int
	paths         []bench.Path
	users         int
	tokensPerUser int
	maxRequests   int64
	simple        bool
	profile       bool
	checkpoint    bool
	keep          bool
	outDir        string
}

func main() {
	bench.Main("pathbench", run)
}

func parseOptions(args []string, stdout io.Writer) (options, error) {
	o := options{}
	fs := bench.Flags("pathbench", stdout, &o.baseURL, "a database is created on it and dropped")
	var names []string
	for _, p := range bench.Paths {
		names = append(names, p.Name)
	}
	conns := fs.String("conns", "32", "connection counts of every path but batch ingest, comma-separated (1 to 64), e.g. 1,8,32")
	batchConns := fs.String("batch-conns", "4", "connection counts of batch ingest, comma-separated (1 to 64)")
	paths := fs.String("paths", strings.Join(names, ","), "the paths to measure, comma-separated")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up of each phase, not measured")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase")
	fs.IntVar(&o.users, "users", 10000, "users in the keyspace, each with a device")
	fs.IntVar(&o.tokensPerUser, "tokens-per-user", 12, "session tokens minted per user: the first is reused, the fresh-token sync sends each other one once (a worker that has sent all its users' stops)")
	fs.Int64Var(&o.maxRequests, "max-requests", 300000, "cap on the requests of one HTTP phase")
	fs.BoolVar(&o.simple, "simple", true, "also run each pgbench script with -M simple (a second reference; the verdict is against -M prepared)")
	fs.BoolVar(&o.profile, "profile", true, "profile each path at its highest connection count in a pprof build")
	fs.BoolVar(&o.checkpoint, "checkpoint", true, "CHECKPOINT before each phase, so that each starts from the same WAL state")
	fs.BoolVar(&o.keep, "keep", false, "keep the database")
	fs.StringVar(&o.outDir, "out", "", "folder for logs, pgbench scripts and logs, profiles and binaries (default bench/out/<time>)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.conns, err = parseConns("-conns", *conns); err != nil {
		return o, err
	}
	if o.batchConns, err = parseConns("-batch-conns", *batchConns); err != nil {
		return o, err
	}
	for _, name := range strings.Split(*paths, ",") {
		found := false
		for _, p := range bench.Paths {
			if p.Name == strings.TrimSpace(name) {
				o.paths, found = append(o.paths, p), true
			}
		}
		if !found {
			return o, fmt.Errorf("-paths: unknown path %q (want some of %s)", name, strings.Join(names, ","))
		}
	}
	maxConns := 0
	for _, c := range append(append([]int{}, o.conns...), o.batchConns...) {
		maxConns = max(maxConns, c)
	}
	switch {
	case o.tokensPerUser < 2:
		return o, fmt.Errorf("-tokens-per-user: want at least 2")
	case o.users < 64 || o.users < 4*maxConns:
		return o, fmt.Errorf("-users: want at least 64 and 4 per connection")
	case o.duration <= 0 || o.warmup < 0 || o.warmup+o.duration > 5*time.Minute:
		return o, fmt.Errorf("want -duration > 0 and warm-up plus duration ≤ 5m")
	case o.maxRequests < 1:
		return o, fmt.Errorf("-max-requests: want at least 1")
	}
	return o, nil
}

func parseConns(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("%s: want numbers from 1 to 64, got %q", flag, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, stdout)
	if err != nil {
		return err
	}
	root, err := bench.ModuleRoot()
	if err != nil {
		return err
	}
	if o.outDir, err = bench.OutDir(root, o.outDir, ""); err != nil {
		return err
	}
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		return fmt.Errorf("pgbench is not installed (Debian: apt-get install postgresql-client)")
	}

	r := &runner{o: o, root: root, pgbench: pgbench, out: stdout}
	defer r.close()
	if err := r.setup(ctx); err != nil {
		return err
	}
	if err := r.measure(ctx); err != nil {
		return err
	}
	r.report()
	if o.profile {
		if err := r.profile(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "\nlogs, pgbench scripts and logs, profiles: %s\n", o.outDir)
	return nil
}

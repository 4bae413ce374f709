// Command syncbench measures POST /api/auth/sync and POST
// /api/webhooks/clerk against PostgreSQL's own limit: pgbench running the
// very INSERT … ON CONFLICT … DO UPDATE … WHERE statement that the users
// service issues, on the same 10,000 users, in the same run.
//
//	go run ./bench/cmd/syncbench            # from the repository root
//
// It builds cmd/usersync, creates a database (dropped at the end), starts
// the real binary on it with rate limits off, a generated CLERK_JWT_KEY and
// a generated Svix secret, and for each connection count runs pgbench, the
// sync route and the webhook route, each from the same table state. Then
// it profiles both routes at the highest connection count in a pprof build
// of the same server (bench/cmd/pprofserver). See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	baseURL       string
	warmup        time.Duration
	duration      time.Duration
	conns         []int
	users         int
	tokensPerUser int
	maxRequests   int64
	profile       bool
	checkpoint    bool
	keep          bool
	outDir        string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

func parseOptions(args []string, stdout io.Writer) (options, error) {
	fs := flag.NewFlagSet("syncbench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	o := options{}
	def := os.Getenv("BENCH_DATABASE_URL")
	if def == "" {
		def = os.Getenv("TEST_DATABASE_URL")
	}
	if def == "" {
		def = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conns := fs.String("conns", "1,8,32", "connection counts, comma-separated (at most 64)")
	fs.StringVar(&o.baseURL, "db", def, "PostgreSQL server (a database is created on it and dropped); default BENCH_DATABASE_URL, else TEST_DATABASE_URL")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up of each phase, not measured")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each phase")
	fs.IntVar(&o.users, "users", 10000, "users in the keyspace")
	fs.IntVar(&o.tokensPerUser, "tokens-per-user", 5, "distinct session tokens minted per user: the first is reused, a fresh-token sync phase sends each other once (users × (this-1) bounds it)")
	fs.Int64Var(&o.maxRequests, "max-requests", 300000, "cap on the requests (or pgbench transactions' worth of time) of one phase")
	fs.BoolVar(&o.profile, "profile", true, "profile both routes at the highest connection count with a pprof build")
	fs.BoolVar(&o.checkpoint, "checkpoint", true, "CHECKPOINT before each phase, so that each starts from the same WAL state")
	fs.BoolVar(&o.keep, "keep", false, "keep the database")
	fs.StringVar(&o.outDir, "out", "", "folder for logs, profiles and binaries (default bench/out/<time>)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 64 {
			return o, fmt.Errorf("-conns: want numbers from 1 to 64, got %q", s)
		}
		o.conns = append(o.conns, n)
	}
	if o.tokensPerUser < 2 || o.users < 64 || o.duration <= 0 || o.warmup < 0 || o.warmup+o.duration > 5*time.Minute || o.maxRequests < 1 {
		return o, fmt.Errorf("want -users ≥ 64, -duration > 0 and warm-up plus duration ≤ 5m")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, stdout)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if o.outDir == "" {
		o.outDir = filepath.Join(root, "bench", "out", time.Now().Format("20060102-150405"))
	}
	if o.outDir, err = filepath.Abs(o.outDir); err != nil {
		return err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
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
	fmt.Fprintf(stdout, "\nlogs, pgbench scripts and profiles: %s\n", o.outDir)
	return nil
}

// moduleRoot is the folder of usersync's go.mod, at or above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/usersync/usersync\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run from inside the usersync repository")
		}
		dir = parent
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/usersync/usersync/bench"
)

type runner struct {
	o       options
	root    string
	pgbench string
	out     io.Writer

	pg  bench.Database
	w   *bench.Workload
	env map[string]string
	srv *bench.Process

	scriptFiles map[string]string // pgbench script name → its copy in the output folder
	phases      []phase
	started     time.Time
	loadBefore  string // /proc/loadavg when measuring began
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.out, "# "+format+"\n", args...)
}

func (r *runner) setup(ctx context.Context) error {
	r.logf("building cmd/usersync and bench/cmd/pprofserver into %s", r.o.outDir)
	for pkg, bin := range map[string]string{"./cmd/usersync": "usersync", "./bench/cmd/pprofserver": "usersync-pprof"} {
		if err := bench.Build(ctx, r.root, pkg, filepath.Join(r.o.outDir, bin)); err != nil {
			return err
		}
	}

	r.scriptFiles = map[string]string{}
	for _, name := range bench.Scripts() {
		s, err := bench.Script(name)
		if err != nil {
			return err
		}
		file := filepath.Join(r.o.outDir, "pgbench-"+name+".sql")
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			return err
		}
		r.scriptFiles[name] = file
	}

	start := time.Now()
	var err error
	if r.w, err = bench.NewWorkload(r.o.users, r.o.tokensPerUser); err != nil {
		return err
	}
	r.logf("minted %d distinct RS256 session tokens (%d a user) in %s", r.o.users*r.o.tokensPerUser,
		r.o.tokensPerUser, time.Since(start).Round(time.Millisecond))

	if err := r.pg.Create(ctx, r.o.baseURL, "usersync_bench"); err != nil {
		return err
	}
	r.logf("database %s (dropped at the end unless -keep)", bench.Redact(r.pg.URL))
	r.env = map[string]string{
		"DATABASE_URL":                 r.pg.URL,
		"CLERK_JWT_KEY":                r.w.Clerk.PublicPEM(),
		"CLERK_WEBHOOK_SIGNING_SECRET": r.w.Svix.Secret(),
		"RATE_LIMIT_RPS":               "0",
		"CLERK_MAX_TOKEN_LIFETIME":     bench.MaxTokenLifetime.String(),
		"LOG_LEVEL":                    "info",
		"LOG_FORMAT":                   "json",
	}
	// serve migrates the database and creates the partitions of locations.
	if err := r.startServer(ctx, "setup"); err != nil {
		return err
	}
	r.logf("usersync pid %d on %s migrated the database", r.srv.Pid(), r.srv.Base)
	r.stopServer()
	if err := r.pg.Open(ctx); err != nil {
		return err
	}
	if err := r.w.Seed(ctx, r.pg.DB); err != nil {
		return err
	}
	r.logf("seeded %d users, each with a device that has a fix", r.o.users)
	return nil
}

// startServer (re)starts the real binary. Each path runs on a new process:
// an empty session-token cache and heap, so that no path inherits another's
// (the fresh-token sync fills the bounded cache with tokens it never sends
// again, which would evict those the next path's priming just verified).
func (r *runner) startServer(ctx context.Context, label string) error {
	r.stopServer()
	var err error
	r.srv, err = bench.StartProcess(ctx, filepath.Join(r.o.outDir, "usersync"), r.o.outDir,
		filepath.Join(r.o.outDir, "usersync-"+label+".log"), maps.Clone(r.env), false)
	return err
}

// stopServer stops the real binary, if it runs: pgbench phases run without it.
func (r *runner) stopServer() {
	if r.srv != nil {
		if err := r.srv.Stop(); err != nil {
			r.logf("usersync stop: %v", err)
		}
		r.srv = nil
	}
}

// reset brings the tables back to the seeded state and, with -checkpoint,
// makes a CHECKPOINT, so that every phase pays the same full-page writes.
// A CHECKPOINT that fails (it needs a superuser, or from PostgreSQL 15 the
// pg_checkpoint role) turns -checkpoint off for the rest of the run.
func (r *runner) reset(ctx context.Context) error {
	if err := r.w.Reset(ctx, r.pg.DB); err != nil || !r.o.checkpoint {
		return err
	}
	if _, err := r.pg.DB.ExecContext(ctx, "CHECKPOINT"); err != nil {
		r.logf("reset: CHECKPOINT: %v: phases start from uneven WAL states from now on", err)
		r.o.checkpoint = false
	}
	return nil
}

func (r *runner) close() {
	r.stopServer()
	if err := r.pg.Drop(r.o.keep); err != nil {
		fmt.Fprintln(os.Stderr, "pathbench: drop database:", err)
	}
}

package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/testkit"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
)

// env is one database with the server on it, shared by the benchmarks of
// a dialect and torn down by TestMain.
type env struct {
	dialect string
	db      *bun.DB
	addr    string // the in-process server's 127.0.0.1:port
	clerk   *bench.Clerk
	users   *users.Service
	track   *tracking.Service
	closers []func()

	latestOnce sync.Once
	latest     []owner // 32 users with a device that has a fix

	routeOnce sync.Once
	route     owner
	routeFrom int64 // ms of the first of routePoints points, one a second

	ingestMu sync.Mutex
	ingest   []*ingestDevice
}

// owner is a user, their session token and one device of theirs.
type owner struct {
	token       string
	deviceID    int64
	ingestToken string
}

var (
	envMu sync.Mutex
	envs  = map[string]*env{}
)

// getEnv returns the dialect's environment, creating it on first use.
// PostgreSQL needs BENCH_DATABASE_URL or TEST_DATABASE_URL, else the
// benchmark is skipped.
func getEnv(b *testing.B, dialect string) *env {
	b.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	if e, ok := envs[dialect]; ok {
		if e == nil {
			b.Skip("environment failed earlier")
		}
		return e
	}
	envs[dialect] = nil
	e, err := newEnv(dialect)
	if err != nil {
		if e != nil {
			e.close()
		}
		b.Fatalf("%s: %v", dialect, err)
	}
	envs[dialect] = e
	return e
}

func skipWithoutPostgres(b *testing.B) {
	if bench.DatabaseURL() == "" {
		b.Skip("set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server")
	}
}

func newEnv(dialect string) (*env, error) {
	ctx := context.Background()
	e := &env{dialect: dialect}
	var dbURL string
	switch dialect {
	case "postgres":
		u, drop, err := bench.CreateDatabase(ctx, bench.DatabaseURL(), "usersync_bench_tracking")
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, func() {
			if err := drop(); err != nil {
				fmt.Fprintln(os.Stderr, "drop database:", err)
			}
		})
		dbURL = u
	case "sqlite":
		dir, err := os.MkdirTemp("", "usersync-bench-")
		if err != nil {
			return nil, err
		}
		e.closers = append(e.closers, func() { os.RemoveAll(dir) })
		dbURL = "sqlite:" + filepath.Join(dir, "usersync.db")
	}
	db, err := migrations.Open(ctx, dbURL)
	if err != nil {
		return e, err
	}
	e.db = db
	e.closers = append(e.closers, func() { db.Close() })
	if _, err := migrations.Up(ctx, db); err != nil {
		return e, err
	}
	if e.clerk, err = bench.NewClerk(); err != nil {
		return e, err
	}
	// Request logs go to a file, as a deployment's go to its collector.
	logFile, err := os.CreateTemp("", "usersync-bench-*.log")
	if err != nil {
		return e, err
	}
	e.closers = append(e.closers, func() { logFile.Close(); os.Remove(logFile.Name()) })
	// The service as serve assembles it, rate limits off.
	cfg, err := app.LoadConfig(testkit.Env(map[string]string{"CLERK_JWT_KEY": e.clerk.PublicPEM(), "RATE_LIMIT_RPS": "0",
		"CLERK_MAX_TOKEN_LIFETIME": bench.MaxTokenLifetime.String()}))
	if err != nil {
		return e, err
	}
	a, err := app.New(cfg, db, app.NewLogger(cfg, logFile))
	if err != nil {
		return e, err
	}
	// As serve does before it listens: a partition for every month a point may land in.
	if _, err := a.Pruner.EnsurePartitions(ctx); err != nil {
		return e, err
	}
	base, stop, err := bench.Serve("127.0.0.1:0", a.Handler)
	if err != nil {
		return e, err
	}
	e.addr = strings.TrimPrefix(base, "http://")
	e.closers = append(e.closers, stop)
	e.users = a.Users
	e.track = a.Tracking
	return e, nil
}

// close undoes newEnv, last step first.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

func closeEnvs() {
	envMu.Lock()
	defer envMu.Unlock()
	for _, e := range envs {
		if e != nil {
			e.close()
		}
	}
}

// newOwner creates user clerkID with a device and returns its session
// token and the device's ingest token.
func (e *env) newOwner(ctx context.Context, clerkID string) (owner, error) {
	email := clerkID + "@example.com"
	res, err := e.users.Upsert(ctx, users.Write{ClerkUserID: clerkID, Email: &email, Version: time.Now(), Writer: users.WriterSync})
	if err != nil {
		return owner{}, err
	}
	d, ingestToken, err := e.track.CreateDevice(ctx, res.User.ID, tracking.NewDevice{Name: "Bench tracker"})
	if err != nil {
		return owner{}, err
	}
	token, err := e.clerk.Token(clerkID, time.Now().Add(-time.Second), 2*time.Hour)
	if err != nil {
		return owner{}, err
	}
	return owner{token: token, deviceID: d.ID, ingestToken: ingestToken}, nil
}

// do sends req on c and returns the body; a status other than want is an error.
func do(c *bench.Conn, req []byte, want int) ([]byte, error) {
	status, body, err := c.Do(req, time.Now().Add(time.Minute))
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, fmt.Errorf("status %d: %.300s", status, body)
	}
	return body, nil
}

// cpuUse is where CPU went while a benchmark ran: per operation for this
// process (server and client: they share it) and for PostgreSQL's backends
// of this database and its background processes; in cores for the rest of
// the machine (other users).
type cpuUse struct {
	process, postgres time.Duration // per operation
	other             float64       // cores
}

type cpuReading struct {
	at   time.Time
	cpu  bench.CPU
	ours map[int]bool
}

func (e *env) readCPU() cpuReading {
	return cpuReading{at: time.Now(), cpu: bench.ReadCPU(os.Getpid()), ours: e.pgProcs()}
}

func (r cpuReading) since(before cpuReading, ops int) cpuUse {
	secs := r.at.Sub(before.at).Seconds()
	if secs <= 0 || ops <= 0 {
		return cpuUse{}
	}
	self := r.cpu.Spent(before.cpu, os.Getpid())
	var pg float64
	for pid := range r.cpu.Procs {
		if r.ours[pid] && before.ours[pid] {
			pg += r.cpu.Spent(before.cpu, pid)
		}
	}
	perOp := func(s float64) time.Duration { return time.Duration(s / float64(ops) * float64(time.Second)) }
	return cpuUse{process: perOp(self), postgres: perOp(pg),
		other: max(0, (r.cpu.Busy-before.cpu.Busy)-self-pg) / secs}
}

// pgProcs tells which PostgreSQL processes are this benchmark's: the
// backends of its database and the server's background processes.
func (e *env) pgProcs() map[int]bool {
	if e.dialect != "postgres" {
		return map[int]bool{}
	}
	return bench.PostgresProcs(context.Background(), e.db.DB)
}

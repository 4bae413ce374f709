package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Main is the main of a benchmark command (cmd/livebench, pathbench,
// partitionbench, pprofserver): it runs run until SIGINT or SIGTERM, and
// exits 1 with the error, named after the command, when run fails.
func Main(name string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Flags is the flag set of benchmark command name, printing its -h to
// stdout, with -db into dbURL: the PostgreSQL server it measures on (what
// says what it does there), by default DatabaseURL or a local server.
func Flags(name string, stdout io.Writer, dbURL *string, what string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	def := DatabaseURL()
	if def == "" {
		def = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	fs.StringVar(dbURL, "db", def, "PostgreSQL server ("+what+"); default BENCH_DATABASE_URL, else TEST_DATABASE_URL")
	return fs
}

// OutDir makes the folder a benchmark writes its files to and returns its
// absolute path: dir, or by default bench/out/<prefix><time> under the
// module root root.
func OutDir(root, dir, prefix string) (string, error) {
	if dir == "" {
		dir = filepath.Join(root, "bench", "out", prefix+time.Now().Format("20060102-150405"))
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o755)
}

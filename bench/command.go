package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
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

// Build builds the package pkg (e.g. ./cmd/usersync) of the module at root
// into the binary out.
func Build(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// PprofTop is the output of `go tool pprof args… bin file`, run in the
// module at root, without its header lines (file, build id, type, time).
func PprofTop(root, bin, file string, args ...string) (string, error) {
	cmd := exec.Command("go", append(append([]string{"tool", "pprof"}, args...), bin, file)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Type:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String(), err
}

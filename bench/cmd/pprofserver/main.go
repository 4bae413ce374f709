// Command pprofserver is usersync's server with net/http/pprof on a
// separate loopback listener, for profiling in the benchmarks only: the
// production binary (cmd/usersync) never serves pprof. The service is
// assembled by package app, as `usersync serve` assembles it, from the same
// environment, plus PPROF_ADDR, which must be a loopback address.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/bench"
)

func main() {
	bench.Main("pprofserver", run)
}

// run serves until ctx ends; the configuration is the environment's, as
// for `usersync serve`, so it takes no arguments.
func run(ctx context.Context, _ []string, _ io.Writer) error {
	pprofAddr := os.Getenv("PPROF_ADDR")
	host, _, err := net.SplitHostPort(pprofAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("PPROF_ADDR must be a loopback host:port, got %q", pprofAddr)
	}
	cfg, err := app.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	logger := app.NewLogger(cfg, os.Stderr)
	app.TuneGC(os.Getenv) // as serve does
	a, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	_, stopPprof, err := bench.Serve(pprofAddr, mux)
	if err != nil {
		return err
	}
	defer stopPprof()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

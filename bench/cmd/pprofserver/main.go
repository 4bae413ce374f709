// Command pprofserver is usersync's server with net/http/pprof on a
// separate loopback listener, for profiling in the benchmarks only: the
// production binary (cmd/usersync) never serves pprof. It is wired by
// bench.NewServer, which follows cmd/usersync/serve.go.
//
// Environment: DATABASE_URL, ADDR, CLERK_JWT_KEY,
// CLERK_WEBHOOK_SIGNING_SECRET, LOG_LEVEL (as cmd/usersync reads them) and
// PPROF_ADDR, which must be a loopback address.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pprofserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var level slog.Level
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("LOG_LEVEL: %w", err)
		}
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	pprofAddr := os.Getenv("PPROF_ADDR")
	host, _, err := net.SplitHostPort(pprofAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("PPROF_ADDR must be a loopback host:port, got %q", pprofAddr)
	}

	db, err := migrations.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := migrations.Up(ctx, db); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	h, err := bench.NewServer(bench.ServerConfig{
		DB:            db,
		JWTKeyPEM:     os.Getenv("CLERK_JWT_KEY"),
		WebhookSecret: os.Getenv("CLERK_WEBHOOK_SIGNING_SECRET"),
		Logger:        logger,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	_, stopPprof, err := bench.Serve(pprofAddr, mux)
	if err != nil {
		return err
	}
	defer stopPprof()

	base, stopAPI, err := bench.Serve(os.Getenv("ADDR"), h)
	if err != nil {
		return err
	}
	logger.Info("listening", "addr", base, "pprof", pprofAddr)
	<-ctx.Done()
	stopAPI()
	return nil
}

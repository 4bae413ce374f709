package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/usersync/usersync/app"
)

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync serve: run the HTTP server until SIGINT or SIGTERM, then drain in-flight requests.")
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreDone(err)
	}
	cfg, logger, err := setup(getenv, stderr)
	if err != nil {
		return err
	}
	app.TuneGC(getenv)
	a, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return a.Serve(ctx, ln)
}

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/usersync/usersync/app"
)

// serve runs the server; healthcheck, in the same image, asks it whether it
// is healthy.
func (c cli) serve(ctx context.Context, args []string) error {
	fs := newFlags("serve", "usersync serve: run the HTTP server until SIGINT or SIGTERM, then drain in-flight requests.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	cfg, logger, err := c.setup()
	if err != nil {
		return err
	}
	app.TuneGC(c.getenv)
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

// healthcheck asks a running server's /healthz: the container image
// has no shell or curl, so the binary checks itself.
func (c cli) healthcheck(ctx context.Context, args []string) error {
	fs := newFlags("healthcheck", "usersync healthcheck [-url URL]: exit 0 when the local server answers /healthz with 200.")
	url := fs.String("url", "", "URL to check (default: /healthz on ADDR or PORT)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *url == "" {
		cfg, err := app.LoadConfig(c.getenv)
		if err != nil {
			return err
		}
		*url = localURL(cfg, "/healthz")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *url, resp.StatusCode)
	}
	return nil
}

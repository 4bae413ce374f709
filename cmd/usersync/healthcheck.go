package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/usersync/usersync/app"
)

// cmdHealthcheck asks a running server's /healthz: the container image
// has no shell or curl, so the binary checks itself.
func cmdHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "URL to check (default: /healthz on ADDR or PORT)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync healthcheck [-url URL]: exit 0 when the local server answers /healthz with 200.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreDone(err)
	}
	if *url == "" {
		cfg, err := app.LoadConfig(getenv)
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

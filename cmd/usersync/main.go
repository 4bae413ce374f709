// Command usersync keeps a mobile app's users in step with Clerk and
// serves the app's devices and locations. See `usersync help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/usersync/usersync/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "usersync: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usersync keeps a mobile app's users in step with Clerk.

Usage:
  usersync [serve]                 run the HTTP server (the default)
  usersync migrate up|down|status  manage the database schema
  usersync events list [--outcome O] [--type T] [--since RFC3339] [--limit N] [--json]
                                   list stored webhook events
  usersync events replay [ID…] [--outcome O] [--since T] [--until T] [--dry-run]
                                   replay stored events through the upsert service
  usersync backfill [--dry-run] [--reconcile]
                                   upsert every user of Clerk's Backend API; with
                                   --reconcile, tombstone local users Clerk deleted
  usersync prune [--dry-run]       remove expired history now (LOCATION_RETENTION,
                                   WEBHOOK_EVENT_RETENTION)
  usersync healthcheck [-url U]    exit 0 when the local server is healthy
  usersync dev keygen|token|webhook
                                   try it locally: a dev key, session tokens, signed Clerk events
  usersync help                    show this help

Every command takes -h. Configuration is read from the environment
(and from ENV_FILE or ./.env); docs/operations.md lists every variable.
`

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve":
		return cmdServe(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args, getenv, stdout, stderr)
	case "events":
		return cmdEvents(ctx, args, getenv, stdout, stderr)
	case "backfill":
		return cmdBackfill(ctx, args, getenv, stdout, stderr)
	case "prune":
		return cmdPrune(ctx, args, getenv, stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args, getenv, stdout)
	case "dev":
		return cmdDev(ctx, args, getenv, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// parseFlags parses a command's flags; -h prints its help and ends the
// command successfully (errDone).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(stdout)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errDone
	}
	return err
}

// errDone ends a command early and successfully (after -h).
var errDone = errors.New("done")

// setup reads the configuration and opens the logger every command uses.
func setup(getenv func(string) string, stderr io.Writer) (app.Config, *slog.Logger, error) {
	getenv, err := app.WithEnvFile(getenv)
	if err != nil {
		return app.Config{}, nil, err
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return app.Config{}, nil, err
	}
	return cfg, app.NewLogger(cfg, stderr), nil
}

// ignoreDone ends a command that printed its -h help successfully.
func ignoreDone(err error) error {
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}

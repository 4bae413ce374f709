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

	"github.com/uptrace/bun"

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
	c := cli{getenv: getenv, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	commands := map[string]func(context.Context, []string) error{
		"serve":       c.serve,
		"migrate":     c.migrate,
		"events":      c.events,
		"backfill":    c.backfill,
		"prune":       c.prune,
		"healthcheck": c.healthcheck,
		"dev":         c.dev,
	}
	if command, ok := commands[name]; ok {
		return ignoreDone(command(ctx, args))
	}
	switch name {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", name)
	}
}

// cli is what every command gets of the process: its environment and its
// output.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// runAction runs the action that args[0] names of a command with actions
// (events, dev); help lists them, want names them in an error.
func (c cli) runAction(ctx context.Context, args []string, name, help, want string, actions map[string]func(context.Context, []string) error) error {
	if len(args) == 0 {
		fmt.Fprintln(c.stderr, help)
		return fmt.Errorf("%s: want %s", name, want)
	}
	if action, ok := actions[args[0]]; ok {
		return action(ctx, args[1:])
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintln(c.stdout, help)
		return nil
	default:
		fmt.Fprintln(c.stderr, help)
		return fmt.Errorf("%s: unknown action %q (want %s)", name, args[0], want)
	}
}

// newFlags is the flag set of command name; its -h prints help, then the
// flags and their defaults.
func newFlags(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a command's flags; -h prints its help and ends the command
// successfully (errDone, which run ignores).
func (c cli) parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(c.stdout)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errDone
	}
	return err
}

// errDone ends a command early and successfully (after -h).
var errDone = errors.New("done")

// ignoreDone ends a command that printed its -h help successfully.
func ignoreDone(err error) error {
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}

// setup reads the configuration and opens the logger every command uses.
func (c cli) setup() (app.Config, *slog.Logger, error) {
	getenv, err := app.WithEnvFile(c.getenv)
	if err != nil {
		return app.Config{}, nil, err
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		return app.Config{}, nil, err
	}
	return cfg, app.NewLogger(cfg, c.stderr), nil
}

// openDB is setup and the configured database, migrated unless
// MIGRATE_ON_START=false: what the commands that work on the stored data
// (prune, events) need. The caller closes the database.
func (c cli) openDB(ctx context.Context) (app.Config, *slog.Logger, *bun.DB, error) {
	cfg, logger, err := c.setup()
	if err != nil {
		return app.Config{}, nil, nil, err
	}
	db, err := app.OpenDB(ctx, cfg, logger)
	return cfg, logger, db, err
}

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

	"github.com/usersync/usersync/migrations"
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
  usersync backfill [--dry-run]    upsert every user of Clerk's Backend API
  usersync healthcheck [-url U]    exit 0 when the local server is healthy
  usersync help                    show this help

Every command takes -h. Configuration is read from the environment
(and from ENV_FILE or ./.env); see README.md for the variables.
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
	case "healthcheck":
		return cmdHealthcheck(ctx, args, getenv, stdout)
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
func setup(getenv func(string) string, stderr io.Writer) (config, *slog.Logger, error) {
	getenv, err := withEnvFile(getenv)
	if err != nil {
		return config{}, nil, err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return config{}, nil, err
	}
	return cfg, newLogger(cfg, stderr), nil
}

// openDB opens the configured database and, unless MIGRATE_ON_START is
// false, applies pending migrations, so that every command works on a
// fresh database with zero setup.
func openDB(ctx context.Context, cfg config, logger *slog.Logger) (*bun.DB, error) {
	db, err := migrations.OpenWith(ctx, cfg.DatabaseURL, migrations.Options{MaxOpenConns: cfg.DBMaxOpenConns})
	if err != nil {
		return nil, err
	}
	if cfg.MigrateOnStart {
		applied, err := migrations.Up(ctx, db)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if len(applied) > 0 {
			logger.Info("migrations applied", "count", len(applied), "names", applied)
		}
	}
	return db, nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/usersync/usersync/migrations"
)

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usersync migrate up|down|status: apply pending migrations, roll back the last group, or list them.")
	}
	if err := parseFlags(fs, args, stdout); err != nil {
		return ignoreDone(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("migrate: want one of up, down, status")
	}
	cfg, _, err := setup(getenv, stderr)
	if err != nil {
		return err
	}
	db, err := migrations.OpenWith(ctx, cfg.DatabaseURL, migrations.Options{MaxOpenConns: cfg.DBMaxOpenConns})
	if err != nil {
		return err
	}
	defer db.Close()

	switch fs.Arg(0) {
	case "up":
		applied, err := migrations.Up(ctx, db)
		if err != nil {
			return err
		}
		printNames(stdout, applied, "applied", "nothing to apply")
	case "down":
		rolled, err := migrations.Down(ctx, db)
		if err != nil {
			return err
		}
		printNames(stdout, rolled, "rolled back", "nothing to roll back")
	case "status":
		list, err := migrations.List(ctx, db)
		if err != nil {
			return err
		}
		for _, m := range list {
			state := "pending"
			if m.Applied {
				state = fmt.Sprintf("applied (group %d)", m.GroupID)
			}
			fmt.Fprintf(stdout, "%-50s %s\n", m.Name, state)
		}
	default:
		fs.Usage()
		return fmt.Errorf("migrate: unknown action %q (want up, down or status)", fs.Arg(0))
	}
	return nil
}

// printNames prints a line "done name" for each name, or none when there
// are no names.
func printNames(w io.Writer, names []string, done, none string) {
	if len(names) == 0 {
		fmt.Fprintln(w, none)
	}
	for _, name := range names {
		fmt.Fprintf(w, "%s %s\n", done, name)
	}
}

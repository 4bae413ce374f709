package main

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/app"
	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/users"
)

// usersService is the users service of a command that writes users
// (backfill, events replay): its tombstones are published on the live
// feed, so that the running servers end the deleted users' streams.
func usersService(ctx context.Context, db *bun.DB) (*users.Service, error) {
	feed, err := app.NewFeed(ctx, db, live.NewHub(1, 1)) // no stream of its own
	if err != nil {
		return nil, err
	}
	svc := users.NewService(db)
	svc.Feed = feed
	return svc, nil
}

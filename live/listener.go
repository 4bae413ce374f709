package live

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// ApplicationName marks the listener's connection in pg_stat_activity.
const ApplicationName = "usersync-live"

// Listener receives the other replicas' changes on a PostgreSQL connection
// of its own (LISTEN) and delivers them to the Hub. When the connection is
// lost it reconnects, and every stream resynchronizes: a change committed
// meanwhile is never silently missed.
type Listener struct {
	DatabaseURL string
	Channel     string // as the replicas' Feed
	Hub         *Hub
	Origin      string
	Logger      *slog.Logger
}

// Run listens until ctx ends.
func (l *Listener) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		listened, err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = 100 * time.Millisecond
		}
		l.Logger.Warn("live: notification connection lost; reconnecting", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listen connects, listens and delivers until the connection fails;
// listened tells whether it got as far as listening.
func (l *Listener) listen(ctx context.Context) (listened bool, err error) {
	cfg, err := pgx.ParseConfig(l.DatabaseURL)
	if err != nil {
		return false, err
	}
	cfg.RuntimeParams["application_name"] = ApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.Channel}.Sanitize()); err != nil {
		return false, err
	}
	// Whatever committed while no connection listened is unknown here:
	// every stream takes a fresh snapshot.
	l.Hub.Deliver([]Change{{Kind: Resync, CommittedAt: time.Now()}})
	l.Logger.Info("live: listening for other replicas' changes")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		if changes, ok := decode(n.Payload, l.Origin); ok {
			l.Hub.Deliver(changes)
		}
	}
}

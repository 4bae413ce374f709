// Package app assembles usersync from its configuration, in one place: the
// database, the services, the HTTP handler and the HTTP server with its
// timeouts. The serve command, the benchmarks and the tests all build the
// service here, so that what they run is what production runs.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/live"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/retention"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// ShutdownTimeout bounds how long in-flight requests may drain after the
// serve context ends.
const ShutdownTimeout = 20 * time.Second

// App is usersync built from a Config.
type App struct {
	Config   Config
	Logger   *slog.Logger
	DB       *bun.DB
	Users    *users.Service
	Webhooks *webhooks.Service
	Tracking *tracking.Service
	Metrics  *httpapi.Metrics
	// Pruner keeps history bounded; Serve runs it in the background.
	Pruner *retention.Pruner
	// Hub fans committed changes out to this process's live streams; on
	// PostgreSQL, Serve also listens for the other replicas'.
	Hub  *live.Hub
	feed *live.Feed // its Channel is "" on SQLite
	// Deps are what Handler is built from (tests walk its routes).
	Deps    httpapi.Deps
	Handler http.Handler

	ownsDB bool
}

// Open opens the configured database, migrating it unless
// MIGRATE_ON_START=false, and builds the App on it; Close closes both.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	db, err := OpenDB(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a, err := New(cfg, db, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	a.ownsDB = true
	return a, nil
}

// OpenDB opens the configured database and, unless MIGRATE_ON_START is
// false, applies pending migrations, so that every command works on a
// fresh database with zero setup.
func OpenDB(ctx context.Context, cfg Config, logger *slog.Logger) (*bun.DB, error) {
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

// New builds the App on db, which the caller keeps (tests pass their own).
func New(cfg Config, db *bun.DB, logger *slog.Logger) (*App, error) {
	sessions, err := clerk.NewSessionVerifier(clerk.SessionConfig{
		JWTKey:                cfg.ClerkJWTKey,
		SecretKey:             cfg.ClerkSecretKey,
		APIURL:                cfg.ClerkAPIURL,
		AuthorizedParties:     cfg.AuthorizedParties,
		MaxTokenLifetime:      cfg.MaxTokenLifetime,
		AcceptPendingSessions: cfg.AcceptPendingSessions,
		JWKSTTL:               cfg.JWKSTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("invalid CLERK_JWT_KEY: %w", err)
	}
	if sessions == nil {
		logger.Warn("no CLERK_JWT_KEY or CLERK_SECRET_KEY: session routes answer 503")
	}
	var verifier *webhooks.Verifier
	if len(cfg.WebhookSecrets) > 0 {
		if verifier, err = webhooks.NewVerifier(cfg.WebhookSecrets); err != nil {
			return nil, fmt.Errorf("invalid CLERK_WEBHOOK_SIGNING_SECRET: %w", err)
		}
	} else {
		logger.Warn("no CLERK_WEBHOOK_SIGNING_SECRET: the webhook route answers 503")
	}

	a := &App{Config: cfg, Logger: logger, DB: db, Metrics: httpapi.NewMetrics(db.DB)}
	a.Hub = live.NewHub(cfg.StreamMaxPerUser, cfg.StreamMax)
	a.feed, err = NewFeed(context.Background(), db, a.Hub)
	if err != nil {
		return nil, err
	}
	a.Users = users.NewService(db)
	a.Users.Observer = a.Metrics.ObserveUpsert
	a.Users.Feed = a.feed
	a.Webhooks = webhooks.NewService(db, a.Users)
	a.Webhooks.Observer = a.Metrics.ObserveWebhook
	a.Tracking = tracking.NewService(db, tracking.Config{
		OnlineWindow: cfg.OnlineWindow,
		MaxRouteSpan: cfg.RouteMaxSpan,
		Limits:       tracking.Limits{MaxAge: cfg.IngestMaxAge()},
		Feed:         a.feed,
	})
	a.Pruner = retention.New(db, cfg.Retention(), logger)
	a.Pruner.Observer = a.Metrics.ObservePruned
	a.Deps = httpapi.Deps{
		Logger:            logger,
		DB:                db,
		Users:             a.Users,
		Sessions:          sessions,
		Webhooks:          a.Webhooks,
		WebhookVerifier:   verifier,
		AdminToken:        cfg.AdminToken,
		Metrics:           a.Metrics,
		RateLimiter:       httpapi.NewRateLimiter(cfg.RateLimitRPS, cfg.RateLimitBurst, cfg.RateLimitMaxBuckets),
		TrustedProxies:    cfg.TrustedProxies,
		RequireEmailClaim: cfg.RequireEmailClaim,
		CORSOrigins:       cfg.CORSOrigins,
		Tracking:          a.Tracking,
		OsmAndSpeedUnit:   cfg.OsmAndSpeedUnit,
		Live:              httpapi.Live{Hub: a.Hub, Heartbeat: cfg.StreamHeartbeat},
	}
	a.Handler = httpapi.NewServer(a.Deps)
	return a, nil
}

// NewFeed is the live feed of a process that writes to db: its changes go
// to hub (this process's streams) and, on PostgreSQL, to every replica
// sharing db's schema. The commands that write users (backfill, events
// replay) use one too, so that the servers' streams hear of what they do.
func NewFeed(ctx context.Context, db *bun.DB, hub *live.Hub) (*live.Feed, error) {
	feed := &live.Feed{Hub: hub, Origin: newOrigin()}
	if migrations.DialectOf(db) == migrations.Postgres {
		var schema string
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			return nil, fmt.Errorf("find the schema: %w", err)
		}
		feed.Channel = live.ChannelFor(schema)
	}
	return feed, nil
}

// newOrigin names this process in the live feed's notifications.
func newOrigin() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand does not fail
	return hex.EncodeToString(b)
}

// Close closes the database if the App opened it.
func (a *App) Close() error {
	if a.ownsDB {
		return a.DB.Close()
	}
	return nil
}

// NewHTTPServer is the one http.Server of usersync, with its timeouts.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
}

// Serve serves the App on ln until ctx ends, then stops taking new
// connections and drains in-flight requests for up to ShutdownTimeout.
// Before it listens it creates the partitions that points may need, and
// it runs the pruner in the background meanwhile.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if _, err := a.Pruner.EnsurePartitions(ctx); err != nil {
		a.Logger.Warn("partitions of locations not created at start; the pruner tries again", "err", err)
	}
	pruneCtx, stopPruning := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		a.Pruner.Run(pruneCtx)
	}()
	defer func() {
		stopPruning()
		<-pruned // Run returns promptly once its context ends
	}()

	if a.feed.Channel != "" {
		listenCtx, stopListening := context.WithCancel(ctx)
		listened := make(chan struct{})
		go func() {
			defer close(listened)
			l := &live.Listener{DatabaseURL: a.Config.DatabaseURL, Channel: a.feed.Channel, Hub: a.Hub, Origin: a.feed.Origin, Logger: a.Logger}
			l.Run(listenCtx)
		}()
		defer func() {
			stopListening()
			<-listened
		}()
	}

	srv := NewHTTPServer(a.Handler)
	// Live streams would hold the drain until its deadline: they end at once.
	srv.RegisterOnShutdown(a.Hub.Close)
	a.Logger.Info("listening", "addr", ln.Addr().String(), "database", string(migrations.DialectOf(a.DB)))
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	a.Logger.Info("shutting down: draining in-flight requests")
	// ctx is already cancelled: the drain's deadline must not derive from it.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.Logger.Info("stopped")
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/migrations"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// shutdownTimeout bounds how long in-flight requests may drain.
const shutdownTimeout = 20 * time.Second

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

	db, err := openDB(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	sessions, err := httpapi.NewSessionVerifier(httpapi.SessionConfig{
		JWTKey:                cfg.ClerkJWTKey,
		SecretKey:             cfg.ClerkSecretKey,
		APIURL:                cfg.ClerkAPIURL,
		AuthorizedParties:     cfg.AuthorizedParties,
		MaxTokenLifetime:      cfg.MaxTokenLifetime,
		AcceptPendingSessions: cfg.AcceptPendingSessions,
		JWKSTTL:               cfg.JWKSTTL,
	})
	if err != nil {
		return fmt.Errorf("invalid CLERK_JWT_KEY: %w", err)
	}
	if sessions == nil {
		logger.Warn("no CLERK_JWT_KEY or CLERK_SECRET_KEY: session routes answer 503")
	}

	var verifier *webhooks.Verifier
	if len(cfg.WebhookSecrets) > 0 {
		if verifier, err = webhooks.NewVerifier(cfg.WebhookSecrets); err != nil {
			return fmt.Errorf("invalid CLERK_WEBHOOK_SIGNING_SECRET: %w", err)
		}
	} else {
		logger.Warn("no CLERK_WEBHOOK_SIGNING_SECRET: the webhook route answers 503")
	}

	metrics := httpapi.NewMetrics(db.DB)
	usersSvc := users.NewService(db)
	usersSvc.Observer = metrics.ObserveUpsert
	webhookSvc := webhooks.NewService(db, usersSvc)
	webhookSvc.Observer = metrics.ObserveWebhook
	handler := httpapi.NewServer(httpapi.Deps{
		Logger:            logger,
		DB:                db,
		Users:             usersSvc,
		Sessions:          sessions,
		Webhooks:          webhookSvc,
		WebhookVerifier:   verifier,
		AdminToken:        cfg.AdminToken,
		Metrics:           metrics,
		RateLimiter:       httpapi.NewRateLimiter(cfg.RateLimitRPS, cfg.RateLimitBurst, cfg.RateLimitMaxBuckets),
		TrustedProxies:    cfg.TrustedProxies,
		RequireEmailClaim: cfg.RequireEmailClaim,
		CORSOrigins:       cfg.CORSOrigins,
		Tracking: tracking.NewService(db, tracking.Config{
			OnlineWindow: cfg.OnlineWindow,
			MaxRouteSpan: cfg.RouteMaxSpan,
			Limits:       tracking.Limits{MaxAge: cfg.LocationMaxAge},
		}),
		OsmAndSpeedUnit: cfg.OsmAndSpeedUnit,
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "database", string(migrations.DialectOf(db)))

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	logger.Info("shutting down: draining in-flight requests")
	// ctx is already cancelled: the drain's deadline must not derive from it.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/uptrace/bun"

	"github.com/usersync/usersync/httpapi"
	"github.com/usersync/usersync/tracking"
	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// ServerConfig is what the in-process server is built from. Rate limits
// are off, as in every measurement here.
type ServerConfig struct {
	DB            *bun.DB
	JWTKeyPEM     string // CLERK_JWT_KEY
	WebhookSecret string // CLERK_WEBHOOK_SIGNING_SECRET; "" leaves the webhook route at 503
	Logger        *slog.Logger
}

// NewServer wires the service as cmd/usersync's serve does (the same
// services, metrics, observers and handler; rate limits and CORS off), for
// the in-process benchmarks and the pprof build of cmd/pprofserver. Keep it
// in step with cmd/usersync/serve.go.
func NewServer(cfg ServerConfig) (http.Handler, error) {
	sessions, err := httpapi.NewSessionVerifier(httpapi.SessionConfig{JWTKey: cfg.JWTKeyPEM, MaxTokenLifetime: MaxTokenLifetime})
	if err != nil {
		return nil, err
	}
	var verifier *webhooks.Verifier
	if cfg.WebhookSecret != "" {
		if verifier, err = webhooks.NewVerifier([]string{cfg.WebhookSecret}); err != nil {
			return nil, err
		}
	}
	metrics := httpapi.NewMetrics(cfg.DB.DB)
	usersSvc := users.NewService(cfg.DB)
	usersSvc.Observer = metrics.ObserveUpsert
	webhookSvc := webhooks.NewService(cfg.DB, usersSvc)
	webhookSvc.Observer = metrics.ObserveWebhook
	return httpapi.NewServer(httpapi.Deps{
		Logger:          cfg.Logger,
		DB:              cfg.DB,
		Users:           usersSvc,
		Sessions:        sessions,
		Webhooks:        webhookSvc,
		WebhookVerifier: verifier,
		Metrics:         metrics,
		RateLimiter:     httpapi.NewRateLimiter(0, 0, 0),
		Tracking: tracking.NewService(cfg.DB, tracking.Config{
			OnlineWindow: tracking.DefaultOnlineWindow,
			MaxRouteSpan: tracking.DefaultMaxRouteSpan,
			Limits:       tracking.Limits{MaxAge: tracking.DefaultMaxAge},
		}),
		OsmAndSpeedUnit: tracking.SpeedKnots,
	}), nil
}

// Serve serves h on addr with cmd/usersync's server timeouts and returns
// the base URL and a function that shuts the server down.
func Serve(addr string, h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("bench: serve:", err)
		}
	}
	return "http://" + ln.Addr().String(), stop, nil
}

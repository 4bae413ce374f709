package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// pinger is the database as the readiness probe needs it.
type pinger interface {
	PingContext(ctx context.Context) error
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 503 while the database does not answer.
func handleReadyz(logger *slog.Logger, db pinger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			logger.WarnContext(r.Context(), "readiness check failed", "request_id", requestID(r.Context()), "err", err)
			encode(w, http.StatusServiceUnavailable, map[string]string{"error": "database is unavailable"})
			return
		}
		encode(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/webhooks"
)

// eventAdmin is the webhook service as the admin routes need it.
type eventAdmin interface {
	List(ctx context.Context, f webhooks.Filter) ([]webhooks.StoredEvent, string, error)
	Get(ctx context.Context, svixID string) (webhooks.StoredEvent, error)
	Replay(ctx context.Context, svixID string) (webhooks.Result, error)
	ReplayMatching(ctx context.Context, f webhooks.Filter, dryRun bool, each func(webhooks.Result, error)) (webhooks.Summary, error)
}

// requireAdmin guards /api/admin/*: without ADMIN_TOKEN the routes do not
// exist (404); otherwise the bearer token must match, compared in
// constant time (hashes first, so that not even the length leaks).
func requireAdmin(logger *slog.Logger, adminToken string) mux.MiddlewareFunc {
	want := sha256.Sum256([]byte(adminToken))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if adminToken == "" {
				writeError(w, r, logger, errs.New(errs.NotFound, "not found"))
				return
			}
			got := sha256.Sum256([]byte(bearerToken(r)))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeError(w, r, logger, errs.New(errs.Unauthorized, "invalid admin token"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// filterFromQuery reads outcome, type, since, until, limit and cursor.
func filterFromQuery(q url.Values) (webhooks.Filter, error) {
	f := webhooks.Filter{Outcome: q.Get("outcome"), Type: q.Get("type"), Cursor: q.Get("cursor")}
	var err error
	if f.Since, err = parseTimeParam(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseTimeParam(q, "until"); err != nil {
		return f, err
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > webhooks.MaxLimit {
			return f, errs.New(errs.Invalid, "limit must be a whole number from 1 to %d", webhooks.MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

func parseTimeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errs.New(errs.Invalid, "%s must be an RFC 3339 time", name)
	}
	return t, nil
}

func handleListEvents(logger *slog.Logger, svc eventAdmin) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		f, err := filterFromQuery(r.URL.Query())
		if err != nil {
			return err
		}
		events, next, err := svc.List(r.Context(), f)
		if err != nil {
			return err
		}
		out := struct {
			Events     []webhooks.StoredEvent `json:"events"`
			NextCursor *string                `json:"next_cursor"`
		}{Events: events}
		if out.Events == nil {
			out.Events = []webhooks.StoredEvent{}
		}
		if next != "" {
			out.NextCursor = &next
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleGetEvent(logger *slog.Logger, svc eventAdmin) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		ev, err := svc.Get(r.Context(), mux.Vars(r)["svix_id"])
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, ev)
		return nil
	})
}

func handleReplayEvent(logger *slog.Logger, svc eventAdmin) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		res, err := svc.Replay(r.Context(), mux.Vars(r)["svix_id"])
		// An event that is still not a Clerk event replays as "failed": that
		// is the replay's answer, not the request's failure.
		if err != nil && !errors.Is(err, webhooks.ErrNotClerkEvent) {
			return err
		}
		logger.InfoContext(r.Context(), "webhook replay", "request_id", requestID(r.Context()),
			"svix_id", res.SvixID, "event_type", res.Type, "outcome", string(res.Outcome))
		encode(w, http.StatusOK, map[string]string{"svix_id": res.SvixID, "outcome": string(res.Outcome)})
		return nil
	})
}

type replayRequest struct {
	Outcome string    `json:"outcome"`
	Type    string    `json:"type"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	DryRun  bool      `json:"dry_run"`
}

func handleReplayEvents(logger *slog.Logger, svc eventAdmin) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		var req replayRequest
		if err := decode(w, r, userBodyLimit, &req); err != nil {
			return err
		}
		f := webhooks.Filter{Outcome: req.Outcome, Type: req.Type, Since: req.Since, Until: req.Until}
		sum, err := svc.ReplayMatching(r.Context(), f, req.DryRun, nil)
		if err != nil {
			return err
		}
		logger.InfoContext(r.Context(), "webhook bulk replay", "request_id", requestID(r.Context()),
			"matched", sum.Matched, "dry_run", sum.DryRun, "outcomes", sum.Outcomes)
		encode(w, http.StatusOK, map[string]any{"matched": sum.Matched, "dry_run": sum.DryRun, "outcomes": sum.Outcomes})
		return nil
	})
}

package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/usersync/usersync/clerk"
	"github.com/usersync/usersync/errs"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	requestInfoKey
	sessionKey
)

// requestInfo is filled in while a request travels through the router,
// and read by the access log once it is done.
type requestInfo struct {
	route string // the route template, never the raw path
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func routeOf(r *http.Request) string {
	if info, ok := r.Context().Value(requestInfoKey).(*requestInfo); ok && info.route != "" {
		return info.route
	}
	return "unmatched"
}

// validRequestID accepts 1–128 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	return strings.IndexFunc(id, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	}) < 0
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe is the outermost layer: it assigns the request id, turns a
// panic into a JSON 500, and writes one access log line and the HTTP
// metrics per request. Both have the route template, never the raw path,
// a header, a token or a body.
func observe(logger *slog.Logger, metrics *Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, requestInfoKey, info)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}

		defer func() {
			aborted := false
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler {
					logger.ErrorContext(ctx, "panic", "request_id", id, "route", routeOf(r), "panic", p)
				}
				if rec.status == 0 && p != http.ErrAbortHandler {
					encode(rec, http.StatusInternalServerError, map[string]string{"error": "internal server error"})
				} else {
					// The status is sent: only a broken response can tell
					// the client that the rest is not coming.
					aborted = true
				}
			}
			took := time.Since(start)
			method := methodLabel(r.Method)
			metrics.observeRequest(method, routeOf(r), rec.status, took)
			attrs := []slog.Attr{
				slog.String("request_id", id),
				slog.String("method", method),
				slog.String("route", routeOf(r)),
				slog.Int("status", rec.status),
				slog.Int64("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			}
			if aborted {
				attrs = append(attrs, slog.Bool("aborted", true))
			}
			logger.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
			if aborted {
				panic(http.ErrAbortHandler) // net/http cuts the connection, quietly
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// methodLabel is the method as metrics and the access log show it: one of
// the methods the API uses, or OTHER, so that made-up methods cannot add
// label values (each a new series, kept forever) or flood the log.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// recordRoute is a router middleware: it runs after matching, when the
// route template is known.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(requestInfoKey).(*requestInfo); ok {
			if tpl, err := mux.CurrentRoute(r).GetPathTemplate(); err == nil {
				info.route = tpl
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer …" header.
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// requireSession answers 503 while no Clerk key is configured and 401 for
// any token that does not verify; otherwise the session is in the context.
// A request it refuses is anonymous: it takes from the client IP's bucket,
// and is answered 429 once that is spent.
func requireSession(logger *slog.Logger, v *clerk.SessionVerifier, lim *limits) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v == nil {
				lim.refuse(w, r, errs.New(errs.Unavailable,
					"Clerk session verification is not configured (set CLERK_JWT_KEY or CLERK_SECRET_KEY)"))
				return
			}
			token := bearerToken(r)
			if token == "" {
				if lim.allowIP(w, r) {
					w.Header().Set("WWW-Authenticate", `Bearer`)
					writeError(w, r, logger, errs.New(errs.Unauthorized, "missing bearer token"))
				}
				return
			}
			s, err := v.Verify(r.Context(), token)
			if err != nil {
				if !lim.allowIP(w, r) {
					return
				}
				if errors.Is(err, clerk.ErrUnavailable) {
					logger.WarnContext(r.Context(), "jwks fetch failed", "request_id", requestID(r.Context()), "err", err)
				} else {
					logger.DebugContext(r.Context(), "session token rejected", "request_id", requestID(r.Context()), "reason", err.Error())
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				}
				writeError(w, r, logger, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey, s)))
		})
	}
}

func sessionFrom(ctx context.Context) clerk.Session {
	s, _ := ctx.Value(sessionKey).(clerk.Session)
	return s
}

package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/usersync/usersync/tracking"
)

// ownTracksRetryAfter is the Retry-After of a database failure on the
// OwnTracks route (a rate limit brings its own).
const ownTracksRetryAfter = 5 // seconds

// handleOwnTracks takes the messages of the OwnTracks apps' HTTP mode (see
// tracking.ParseOwnTracks) and answers 200 [] after the commit: a
// "location" is ingested as a point (through Ingest, as every other
// ingest path), every other message and an empty body are accepted and
// ignored. A point that breaks a rule is dropped and logged, still with a
// 200, as on the OsmAnd route: OwnTracks iOS deletes a message on any 4xx,
// so only a bad token (401) and a body no app sends (400, 413) are one.
// Wrapped in ownTracksClient, which makes the temporary refusals 503.
func handleOwnTracks(logger *slog.Logger, li locationIngester, lim *limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The device is found (a read) before the body is read, then takes
		// from its bucket.
		id, ok := authenticateDevice(w, r, li, lim, bearerToken(r))
		if !ok {
			return
		}
		body, err := readBody(w, r, ingestBodyLimit)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		msg, err := tracking.ParseOwnTracks(body)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if msg.Type != "location" {
			logger.DebugContext(r.Context(), "owntracks message ignored", "request_id", requestID(r.Context()),
				"device_id", id, "type", ownTracksTypeForLog(msg.Type))
			encode(w, http.StatusOK, []struct{}{})
			return
		}
		var points []tracking.Location
		if msg.Location != nil {
			points = append(points, *msg.Location)
		} else {
			logRejected(r, logger, id, msg.Rejected)
		}
		// A location message is a report even when its point is dropped:
		// the device is alive, as with the other ingest paths.
		res, err := li.Ingest(r.Context(), id, points)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		for _, rej := range res.Rejected {
			logRejected(r, logger, res.DeviceID, rej.Err)
		}
		encode(w, http.StatusOK, []struct{}{})
	})
}

func logRejected(r *http.Request, logger *slog.Logger, deviceID int64, reason error) {
	logger.InfoContext(r.Context(), "owntracks location rejected", "request_id", requestID(r.Context()),
		"device_id", deviceID, "reason", reason.Error())
}

// ownTracksTypeForLog is a message type fit for a log line: one the apps
// send, or "other" (the client's text never reaches the log).
func ownTracksTypeForLog(t string) string {
	switch t {
	case "", "transition", "waypoint", "waypoints", "status", "card", "steps", "beacon",
		"configuration", "request", "cmd", "lwt", "encrypted", "dump":
		return t
	}
	return "other"
}

// ownTracksClient adapts the OwnTracks route to its apps, around the
// route's rate limiter and handler:
//
//   - the apps send the ingest token as the HTTP Basic password (any user
//     name): it is passed on as a Bearer token, so that the limiter and
//     the handler see it as on every ingest route;
//   - OwnTracks iOS deletes a message on any 4xx and keeps it for a retry
//     on a 5xx, so a temporary refusal, the limiter's 429 or a database
//     failure's 500, becomes a 503 with Retry-After. The body stays the
//     refusal's own {"error": …}.
//
// Working on the response, not on the limiter, keeps this whatever the
// limiter becomes.
func ownTracksClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, password, ok := r.BasicAuth(); ok {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+password)
		}
		next.ServeHTTP(&retryableWriter{ResponseWriter: w}, r)
	})
}

// retryableWriter turns a 429 or a 500 into a 503 with Retry-After.
type retryableWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (rw *retryableWriter) WriteHeader(code int) {
	if !rw.wroteHeader && (code == http.StatusTooManyRequests || code == http.StatusInternalServerError) {
		if rw.Header().Get("Retry-After") == "" {
			rw.Header().Set("Retry-After", strconv.Itoa(ownTracksRetryAfter))
		}
		code = http.StatusServiceUnavailable
	}
	rw.wroteHeader = true
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *retryableWriter) Write(b []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (rw *retryableWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/tracking"
)

// routeReader is the tracking service as GET /api/locations/{deviceId}/route needs it.
type routeReader interface {
	PlanRoute(deviceID int64, q tracking.RouteQuery) (tracking.RoutePlan, error)
	Route(ctx context.Context, ownerID int64, p tracking.RoutePlan, emit func(tracking.Location) error) (tracking.RoutePage, error)
}

// locationJSON is the wire shape of a location. received_at is absent on
// route points, which do not read it.
type locationJSON struct {
	RecordedAt jsontime.Time  `json:"recorded_at"`
	ReceivedAt *jsontime.Time `json:"received_at,omitempty"`
	Lat        float64        `json:"lat"`
	Lon        float64        `json:"lon"`
	readingsJSON[*string]
}

// toLocationJSON returns nil for nil: JSON null, "no fix yet".
func toLocationJSON(l *tracking.Location) *locationJSON {
	if l == nil {
		return nil
	}
	out := &locationJSON{
		RecordedAt: jsontime.Of(l.RecordedAt),
		Lat:        l.Lat,
		Lon:        l.Lon,
		readingsJSON: readingsJSON[*string]{
			AccuracyM: l.AccuracyM, AltitudeM: l.AltitudeM, SpeedMPS: l.SpeedMPS, CourseDeg: l.CourseDeg, BatteryPct: l.BatteryPct,
			Motion: l.Motion, OdometerM: l.OdometerM, Charging: l.Charging, Activity: l.Activity, Event: l.Event, Alarm: l.Alarm,
		},
	}
	if !l.ReceivedAt.IsZero() {
		out.ReceivedAt = jsontime.Ptr(&l.ReceivedAt)
	}
	return out
}

// handleLatest answers the device's newest fix with a strong ETag, the hash
// of the body: equal tags mean byte-identical bodies, and a map polling
// with If-None-Match gets a 304 until a newer fix arrives.
func handleLatest(logger *slog.Logger, us userGetter, ds deviceStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := latestDevice(r, us, ds)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		body, err := json.Marshal(struct {
			DeviceID int64         `json:"device_id"`
			Location *locationJSON `json:"location"`
		}{d.ID, toLocationJSON(d.LastLocation)})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		sum := sha256.Sum256(body)
		etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		// private: the answer is one user's; no-cache: revalidate every time.
		w.Header().Set("Cache-Control", "private, no-cache")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		encode(w, http.StatusOK, json.RawMessage(body))
	})
}

// latestDevice resolves the session's user and the path's device in one
// query when both are there, as they are for a map polling this route;
// when that finds nothing it resolves them as the other device routes do,
// which tells a deleted user (410) from a device that is absent or not
// theirs (404), in the same order.
func latestDevice(r *http.Request, us userGetter, ds deviceStore) (tracking.Device, error) {
	if id, err := pathDeviceID(r, "deviceId"); err == nil {
		d, err := ds.UserDevice(r.Context(), sessionFrom(r.Context()).UserID, id)
		if !errors.Is(err, tracking.ErrDeviceNotFound) {
			return d, err
		}
	}
	owner, id, err := deviceOwner(r, us, "deviceId")
	if err != nil {
		return tracking.Device{}, err
	}
	return ds.GetDevice(r.Context(), owner, id)
}

// etagMatches applies If-None-Match (RFC 9110, section 13.1.2): "*", or a list of
// tags compared weakly (a W/ prefix is ignored).
func etagMatches(header, etag string) bool {
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, tag := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(tag), "W/") == etag {
			return true
		}
	}
	return false
}

// handleRoute streams a page of the device's route as JSON or GeoJSON. The
// checks run in the documented order: the parameters (400), the user (410),
// the device (404); only then does the body start.
func handleRoute(logger *slog.Logger, us userGetter, rr routeReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, geo, err := parseRouteQuery(r.URL.Query())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		// A malformed id plans as device 0, so that its cursor is still
		// checked; deviceOwner answers 404 for it below.
		id, _ := pathDeviceID(r, "deviceId")
		plan, err := rr.PlanRoute(id, q)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		owner, _, err := deviceOwner(r, us, "deviceId")
		if err != nil {
			writeError(w, r, logger, err)
			return
		}

		out := newRouteStream(w, r, plan, geo)
		page, err := rr.Route(r.Context(), owner, plan, out.point)
		if err != nil {
			if !out.started() {
				writeError(w, r, logger, err)
				return
			}
			// The status is sent: only a cut connection can tell the client.
			logger.WarnContext(r.Context(), "route stream aborted",
				"request_id", requestID(r.Context()), "device_id", plan.DeviceID, "err", err)
			panic(http.ErrAbortHandler)
		}
		if err := out.finish(page); err != nil {
			logger.DebugContext(r.Context(), "route stream not delivered",
				"request_id", requestID(r.Context()), "device_id", plan.DeviceID, "err", err)
			panic(http.ErrAbortHandler) // whatever failed, the body must not look complete
		}
	})
}

// parseRouteQuery reads the route's query parameters; an empty one is
// absent, an unknown one ignored. It returns whether GeoJSON is asked for.
func parseRouteQuery(v url.Values) (tracking.RouteQuery, bool, error) {
	var q tracking.RouteQuery
	var err error
	if q.From, q.To, err = parseSpanQuery(v); err != nil {
		return q, false, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return q, false, &errs.FieldError{Field: "limit", Msg: "must be a whole number"}
		}
		q.Limit = &n
	}
	if s := v.Get("simplify"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return q, false, &errs.FieldError{Field: "simplify", Msg: "must be a number of meters"}
		}
		q.SimplifyM = &f
	}
	q.Cursor = v.Get("cursor")
	switch v.Get("format") {
	case "", "json":
		return q, false, nil
	case "geojson":
		return q, true, nil
	}
	return q, false, &errs.FieldError{Field: "format", Msg: "must be json or geojson"}
}

// parseSpanQuery reads from and to, RFC 3339, for the route, the export,
// the summary and the deletion of history; empty is absent.
func parseSpanQuery(v url.Values) (from, to *time.Time, err error) {
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := v.Get(p.name); s != "" {
			t, err := parseQueryTime(s)
			if err != nil {
				return nil, nil, &errs.FieldError{Field: p.name, Msg: "must be an RFC 3339 time such as 2026-11-27T20:53:55Z"}
			}
			*p.dst = &t
		}
	}
	return from, to, nil
}

// parseQueryTime reads RFC 3339. An unescaped "+01:00" in a query string
// arrives as " 01:00"; that is read as meant.
func parseQueryTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && strings.Contains(s, " ") {
		return time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1))
	}
	return t, err
}

package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// handleOsmAnd takes reports in the OsmAnd protocol of Traccar Client and
// OsmAnd (see tracking.ParseOsmAnd), answering 200 with an empty body after
// the commit. A retried request is a duplicate and still 200. A point that
// fails validation is dropped and logged, still with a 200: these clients
// resend anything else forever, and cannot show a reason anyway. A report
// without a fix (Traccar Client's heartbeat) is an ingest of no points: the
// device is seen. A push-token registration is stored, and is no report.
// The token travels in the query string: it is never logged (the access log
// has the route template, not the URL).
//
// A token in the query or the header is looked up (a read) before the body
// is read; one that only the body carries, after the body is parsed, still
// before any write transaction.
func handleOsmAnd(logger *slog.Logger, li osmAndIngester, unit tracking.SpeedUnit, lim *limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var deviceID int64
		early := osmAndToken(r, nil)
		if early != "" {
			id, ok := authenticateDevice(w, r, li, lim, early)
			if !ok {
				return
			}
			deviceID = id
		}
		body, err := readBody(w, r, ingestBodyLimit)
		var reports []tracking.OsmAndReport
		if err == nil {
			reports, err = tracking.ParseOsmAnd(r.URL.Query(), r.Header.Get("Content-Type"), body, unit, time.Now())
		}
		token := osmAndToken(r, reports)
		if err == nil {
			err = oneDevice(r, reports, token)
		}
		if early == "" || (err == nil && token != early) {
			// The token came from the body, or never came (401 before 400),
			// or the body names another device than the query.
			id, ok := authenticateDevice(w, r, li, lim, token)
			if !ok {
				return
			}
			deviceID = id
		}
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		points, report, pushToken := osmAndPoints(reports)
		if pushToken != "" {
			if err := li.RegisterPushToken(r.Context(), deviceID, pushToken); err != nil {
				writeError(w, r, logger, err)
				return
			}
		}
		if !report { // a push-token registration and nothing else
			w.WriteHeader(http.StatusOK)
			return
		}
		res, err := li.Ingest(r.Context(), deviceID, points)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		for _, rej := range res.Rejected {
			logger.InfoContext(r.Context(), "osmand location rejected", "request_id", requestID(r.Context()),
				"device_id", res.DeviceID, "index", rej.Index, "reason", rej.Err.Error())
		}
		w.WriteHeader(http.StatusOK)
	})
}

// osmAndToken is the device token of a request: the one its reports carry
// (id, deviceid or device_id, from the body or the query), else the query's
// when the reports did not parse, else the Bearer token.
func osmAndToken(r *http.Request, reports []tracking.OsmAndReport) string {
	if len(reports) > 0 && reports[0].Token != "" {
		return reports[0].Token
	}
	if len(reports) == 0 {
		q := r.URL.Query()
		for _, key := range []string{"id", "deviceid"} {
			if v := q.Get(key); v != "" {
				return v
			}
		}
	}
	return bearerToken(r)
}

// oneDevice refuses a request whose reports name different devices: one
// request, one device, one authentication.
func oneDevice(r *http.Request, reports []tracking.OsmAndReport, token string) error {
	for _, rep := range reports {
		t := rep.Token
		if t == "" {
			t = bearerToken(r)
		}
		if t != token {
			return &errs.FieldError{Field: "id", Msg: "all locations of one request must be for one device"}
		}
	}
	return nil
}

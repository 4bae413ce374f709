package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// ingestBodyLimit bounds the body of the ingest routes.
const ingestBodyLimit = 1 << 20

// locationIngester is the tracking service as the ingest routes need it.
type locationIngester interface {
	Authenticate(ctx context.Context, token string) (int64, error)
	Ingest(ctx context.Context, token string, points []tracking.Location) (tracking.IngestResult, error)
}

// pointJSON is one point of a batch as sent. Pointers tell absent (and
// null) from zero.
type pointJSON struct {
	RecordedAt *string  `json:"recorded_at"`
	Lat        *float64 `json:"lat"`
	Lon        *float64 `json:"lon"`
	AccuracyM  *float64 `json:"accuracy_m"`
	AltitudeM  *float64 `json:"altitude_m"`
	SpeedMPS   *float64 `json:"speed_mps"`
	CourseDeg  *float64 `json:"course_deg"`
	BatteryPct *float64 `json:"battery_pct"`
	Motion     *bool    `json:"motion"`
	OdometerM  *float64 `json:"odometer_m"`
	Charging   *bool    `json:"charging"`
	Activity   text     `json:"activity"`
	Event      text     `json:"event"`
	Alarm      text     `json:"alarm"`
}

// decodePoint reads one point; its errors are *errs.FieldError. The
// rules on values are Normalize's, in the service.
func decodePoint(raw json.RawMessage) (tracking.Location, error) {
	var p pointJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case !errors.As(err, &typeErr) || typeErr.Field == "":
			return tracking.Location{}, &errs.FieldError{Field: "point", Msg: "must be a JSON object"}
		case typeErr.Field == "recorded_at":
			return tracking.Location{}, &errs.FieldError{Field: "recorded_at", Msg: "must be an RFC 3339 time string"}
		case typeErr.Field == "motion" || typeErr.Field == "charging":
			return tracking.Location{}, &errs.FieldError{Field: typeErr.Field, Msg: "must be true or false"}
		default:
			return tracking.Location{}, &errs.FieldError{Field: typeErr.Field, Msg: "must be a number"}
		}
	}
	return p.location()
}

// location checks that the required fields are there and reads the time.
func (p *pointJSON) location() (tracking.Location, error) {
	switch {
	case p.RecordedAt == nil:
		return tracking.Location{}, &errs.FieldError{Field: "recorded_at", Msg: "required"}
	case p.Lat == nil:
		return tracking.Location{}, &errs.FieldError{Field: "lat", Msg: "required"}
	case p.Lon == nil:
		return tracking.Location{}, &errs.FieldError{Field: "lon", Msg: "required"}
	}
	at, err := time.Parse(time.RFC3339Nano, *p.RecordedAt)
	if err != nil {
		return tracking.Location{}, &errs.FieldError{Field: "recorded_at", Msg: "must be an RFC 3339 time string"}
	}
	attrs, err := p.attributes()
	if err != nil {
		return tracking.Location{}, err
	}
	return tracking.Location{
		RecordedAt: at, Lat: *p.Lat, Lon: *p.Lon,
		AccuracyM: p.AccuracyM, AltitudeM: p.AltitudeM, SpeedMPS: p.SpeedMPS,
		CourseDeg: p.CourseDeg, BatteryPct: p.BatteryPct, Attributes: attrs,
	}, nil
}

// attributes reads motion … alarm. The texts are checked here for what
// decoding hides (a wrong type, invalid UTF-8); their rules are Normalize's.
func (p *pointJSON) attributes() (tracking.Attributes, error) {
	a := tracking.Attributes{Motion: p.Motion, OdometerM: p.OdometerM, Charging: p.Charging}
	for _, f := range []struct {
		name string
		in   *text
		out  **string
	}{{"activity", &p.Activity, &a.Activity}, {"event", &p.Event, &a.Event}, {"alarm", &p.Alarm, &a.Alarm}} {
		if !f.in.Set || f.in.Null {
			continue
		}
		if err := f.in.wellFormed(f.name); err != nil {
			msg := "must be a string"
			if f.in.badUTF8 {
				msg = "must be valid UTF-8"
			}
			return a, &errs.FieldError{Field: f.name, Msg: msg}
		}
		*f.out = &f.in.Value
	}
	return a, nil
}

// batch is a decoded ingest body: the points that decoded, with the index
// each had in the request, and those that did not.
type batch struct {
	received int
	points   []tracking.Location
	index    []int // index[i] is the request index of points[i]
	rejected []tracking.Rejection
}

// decodeBatch reads {"locations": [1–1000 points]}. A point that does not
// decode is rejected, not the batch: a phone would resend a poison batch
// forever.
func decodeBatch(w http.ResponseWriter, r *http.Request) (batch, error) {
	body, err := readBody(w, r, ingestBodyLimit)
	if err != nil {
		return batch{}, err
	}
	return decodeBatchBody(body)
}

// decodeBatchBody reads a batch whose points all decode in one pass,
// straight into typed points (decoding was a third of an ingest's CPU);
// any other is read point by point, to find the points that do not.
// Both read a point the same way, into a fresh pointJSON, so they give the
// same batch, provided the key "locations" comes once: a second one would
// be decoded over the first one's points here, and replace them there.
func decodeBatchBody(body []byte) (batch, error) {
	if !onePassSafe(body) {
		return decodeBatchPointByPoint(body)
	}
	var typed struct {
		Locations []pointJSON `json:"locations"`
	}
	if json.Unmarshal(body, &typed) != nil {
		return decodeBatchPointByPoint(body)
	}
	if err := checkBatchSize(len(typed.Locations)); err != nil {
		return batch{}, err
	}
	b := batch{received: len(typed.Locations)}
	for i := range typed.Locations {
		l, err := typed.Locations[i].location()
		b.add(i, l, err)
	}
	return b, nil
}

// onePassSafe tells whether body names "locations" once, in the one
// spelling encoding/json matches: keys match case-insensitively (with
// Unicode folds, hence ASCII only) and after unescaping (hence no
// backslash). A value that holds the word too only sends body the slow way.
func onePassSafe(body []byte) bool {
	const key = `locations"`
	n := 0
	for i, c := range body {
		switch {
		case c >= 0x80 || c == '\\':
			return false
		case (c == 'l' || c == 'L') && len(body)-i >= len(key) && bytes.EqualFold(body[i:i+len(key)], []byte(key)):
			n++
		}
	}
	return n == 1
}

// decodeBatchPointByPoint reads the batch as a list of raw points, then
// each point on its own.
func decodeBatchPointByPoint(body []byte) (batch, error) {
	var raw struct {
		Locations []json.RawMessage `json:"locations"`
	}
	if err := unmarshalBody(body, &raw); err != nil {
		return batch{}, err
	}
	if err := checkBatchSize(len(raw.Locations)); err != nil {
		return batch{}, err
	}
	b := batch{received: len(raw.Locations)}
	for i, p := range raw.Locations {
		l, err := decodePoint(p)
		b.add(i, l, err)
	}
	return b, nil
}

func checkBatchSize(n int) error {
	if n < 1 || n > tracking.MaxIngestPoints {
		return &errs.FieldError{Field: "locations", Msg: fmt.Sprintf("must hold 1 to %d points", tracking.MaxIngestPoints)}
	}
	return nil
}

// add records point i of the request, or its rejection.
func (b *batch) add(i int, l tracking.Location, err error) {
	if err != nil {
		b.rejected = append(b.rejected, tracking.Rejection{Index: i, Err: err})
		return
	}
	b.points = append(b.points, l)
	b.index = append(b.index, i)
}

type rejectionJSON struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

type ingestResponse struct {
	Received   int             `json:"received"`
	Stored     int             `json:"stored"`
	Duplicates int             `json:"duplicates"`
	Rejected   []rejectionJSON `json:"rejected"`
}

// handleIngestLocations stores a batch of points for the device whose
// token is the Bearer token. It answers after the commit.
func handleIngestLocations(logger *slog.Logger, li locationIngester) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r)
		if !tracking.ValidTokenFormat(token) {
			// Refused before the body is read: no device has such a token.
			writeError(w, r, logger, tracking.ErrInvalidToken)
			return
		}
		b, err := decodeBatch(w, r)
		if err != nil {
			writeError(w, r, logger, authenticatedError(r.Context(), li, token, err))
			return
		}
		res, err := li.Ingest(r.Context(), token, b.points)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		for _, rej := range res.Rejected {
			b.rejected = append(b.rejected, tracking.Rejection{Index: b.index[rej.Index], Err: rej.Err})
		}
		slices.SortFunc(b.rejected, func(a, c tracking.Rejection) int { return a.Index - c.Index })
		out := ingestResponse{
			Received:   b.received,
			Stored:     res.Stored,
			Duplicates: res.Duplicates,
			Rejected:   make([]rejectionJSON, len(b.rejected)),
		}
		for i, rej := range b.rejected {
			out.Rejected[i] = rejectionJSON{rej.Index, rej.Err.Error()}
		}
		logger.DebugContext(r.Context(), "locations ingested", "request_id", requestID(r.Context()),
			"device_id", res.DeviceID, "received", out.Received, "stored", out.Stored,
			"duplicates", out.Duplicates, "rejected", len(out.Rejected))
		encode(w, http.StatusOK, out)
	})
}

// authenticatedError returns bodyErr, a 400 or 413, for a known token and
// the authentication error otherwise: 401 comes first (docs/api.md).
func authenticatedError(ctx context.Context, li locationIngester, token string, bodyErr error) error {
	if _, err := li.Authenticate(ctx, token); err != nil {
		return err
	}
	return bodyErr
}

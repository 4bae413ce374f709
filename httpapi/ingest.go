package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/tracking"
)

// ingestBodyLimit bounds the body of the ingest routes.
const ingestBodyLimit = 1 << 20

// locationIngester is the tracking service as the ingest routes need it.
type locationIngester interface {
	Authenticate(ctx context.Context, token string) (int64, error)
	Ingest(ctx context.Context, deviceID int64, points []tracking.Location) (tracking.IngestResult, error)
}

// pointJSON is one point of a batch as sent. Pointers tell absent (and
// null) from zero.
type pointJSON struct {
	RecordedAt *string  `json:"recorded_at"`
	Lat        *float64 `json:"lat"`
	Lon        *float64 `json:"lon"`
	readingsJSON[text]
}

// readingsJSON are a point's values beyond its time and place, under their
// wire names, one list for both ways: a point as sent (S is text, which
// tells a wrong type and bad UTF-8 apart) and a location as answered (S is
// *string).
type readingsJSON[S any] struct {
	AccuracyM  *float64 `json:"accuracy_m"`
	AltitudeM  *float64 `json:"altitude_m"`
	SpeedMPS   *float64 `json:"speed_mps"`
	CourseDeg  *float64 `json:"course_deg"`
	BatteryPct *float64 `json:"battery_pct"`
	Motion     *bool    `json:"motion"`
	OdometerM  *float64 `json:"odometer_m"`
	Charging   *bool    `json:"charging"`
	Activity   S        `json:"activity"`
	Event      S        `json:"event"`
	Alarm      S        `json:"alarm"`
}

// pointError turns the error of decoding one point into its rejection, a
// *errs.FieldError. The rules on values are Normalize's, in the service.
func pointError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field == "" {
		return &errs.FieldError{Field: "point", Msg: "must be a JSON object"}
	}
	// A point is flat: the path json gives is the wire name, behind the
	// embedded readingsJSON's Go name for the values it holds.
	field := typeErr.Field[strings.LastIndexByte(typeErr.Field, '.')+1:]
	switch field {
	case "recorded_at":
		return &errs.FieldError{Field: field, Msg: "must be an RFC 3339 time string"}
	case "motion", "charging":
		return &errs.FieldError{Field: field, Msg: "must be true or false"}
	default:
		return &errs.FieldError{Field: field, Msg: "must be a number"}
	}
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

// decodeBatch reads {"locations": [1–1000 points]} from the body as it
// arrives. A point that does not decode is rejected, not the batch: a phone
// would resend a poison batch forever. The point cap is enforced while
// decoding: the 1001st point ends the request, so a body of a million empty
// objects costs no more than one of a thousand.
func decodeBatch(w http.ResponseWriter, r *http.Request) (batch, error) {
	if r.ContentLength > ingestBodyLimit {
		return batch{}, errs.New(errs.TooLarge, "request body is larger than %d bytes", ingestBodyLimit)
	}
	b, err := decodeBatchFrom(http.MaxBytesReader(w, r.Body, ingestBodyLimit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return batch{}, errs.New(errs.TooLarge, "request body is larger than %d bytes", ingestBodyLimit)
	}
	return b, err
}

// errNotJSON is the answer to a body that is not JSON, or not an object.
var errNotJSON = errs.New(errs.Invalid, "request body is not valid JSON")

// decodeBatchFrom streams a batch with encoding/json's Decoder: tokens for
// the object and the array, one Decode per point. It answers as
// json.Unmarshal into struct{Locations []json.RawMessage} followed by one
// Unmarshal per point would (ingest_decode_test.go holds that reference):
// the key matches case-insensitively, the last "locations" wins, a wrongly
// typed one is an error even when another follows, unknown keys are
// skipped, and nothing may follow the object.
func decodeBatchFrom(body io.Reader) (batch, error) {
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	if err != nil {
		return batch{}, syntaxError(err)
	}
	var (
		b       batch
		typeErr error // the first "locations" of the wrong type
	)
	switch tok {
	case nil: // null: no locations
	case json.Delim('{'):
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return batch{}, syntaxError(err)
			}
			if name, _ := key.(string); !strings.EqualFold(name, "locations") {
				if err := skipValue(dec); err != nil {
					return batch{}, err
				}
				continue
			}
			got, err := decodeLocations(dec)
			switch {
			case errors.Is(err, errLocationsType):
				if typeErr == nil {
					typeErr = errs.New(errs.Invalid, "locations has the wrong type")
				}
			case err != nil:
				return batch{}, err
			default:
				b = got // a repeated key replaces the points before it
			}
		}
		if _, err := dec.Token(); err != nil { // the closing brace
			return batch{}, syntaxError(err)
		}
	default:
		return batch{}, errNotJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return batch{}, errNotJSON // data after the object
		}
		return batch{}, syntaxError(err)
	}
	if typeErr != nil {
		return batch{}, typeErr
	}
	if err := checkBatchSize(b.received); err != nil {
		return batch{}, err
	}
	return b, nil
}

// errLocationsType: "locations" is neither an array nor null.
var errLocationsType = errors.New("locations has the wrong type")

// decodeLocations reads the value of "locations", refusing its 1001st
// point before decoding it.
func decodeLocations(dec *json.Decoder) (batch, error) {
	tok, err := dec.Token()
	if err != nil {
		return batch{}, syntaxError(err)
	}
	switch tok {
	case nil:
		return batch{}, nil
	case json.Delim('['):
	case json.Delim('{'):
		if err := skipRest(dec); err != nil {
			return batch{}, err
		}
		return batch{}, errLocationsType
	default:
		return batch{}, errLocationsType
	}
	var b batch
	for i := 0; dec.More(); i++ {
		if i == tracking.MaxIngestPoints {
			return batch{}, checkBatchSize(i + 1)
		}
		var p pointJSON
		if err := dec.Decode(&p); err != nil {
			if isSyntaxError(err) {
				return batch{}, syntaxError(err)
			}
			b.add(i, tracking.Location{}, pointError(err))
		} else {
			l, err := p.location()
			b.add(i, l, err)
		}
		b.received++
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return batch{}, syntaxError(err)
	}
	return b, nil
}

// skipValue reads past one value. Unknown keys are rare and small; a
// RawMessage holds their bytes only, never one allocation per element.
func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	if err := dec.Decode(&skip); err != nil {
		return syntaxError(err)
	}
	return nil
}

// skipRest reads past the rest of an object or array whose opening
// delimiter was just read.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// isSyntaxError tells a body that is not JSON (or could not be read) from
// a point of the wrong shape, which only rejects that point.
func isSyntaxError(err error) bool {
	var typeErr *json.UnmarshalTypeError
	return !errors.As(err, &typeErr)
}

// syntaxError keeps a read error (the body over its limit: 413) and makes
// any other a 400.
func syntaxError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errNotJSON
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return errNotJSON
	}
	return errs.New(errs.Invalid, "cannot read request body")
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
// token is the Bearer token. The device is found (a read) before the body
// is read, so an unknown token costs no decoding and no write transaction.
// It answers after the commit.
func handleIngestLocations(logger *slog.Logger, li locationIngester, lim *limits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deviceID, ok := authenticateDevice(w, r, li, lim, bearerToken(r))
		if !ok {
			return
		}
		b, err := decodeBatch(w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		res, err := li.Ingest(r.Context(), deviceID, b.points)
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

// authenticateDevice finds the device whose ingest token is token, with a
// read, and takes a token from that device's bucket. An unknown token is
// a failed authentication: it takes from the client IP's bucket instead,
// and is answered 401 (or 429 once the IP has spent its bucket). It
// reports whether the request may go on; if not, the answer is written.
func authenticateDevice(w http.ResponseWriter, r *http.Request, li locationIngester, lim *limits, token string) (int64, bool) {
	id, err := li.Authenticate(r.Context(), token)
	switch {
	case errors.Is(err, tracking.ErrInvalidToken):
		lim.refuse(w, r, err)
		return 0, false
	case err != nil:
		writeError(w, r, lim.logger, err)
		return 0, false
	}
	return id, lim.allow(w, r, deviceKey(id))
}

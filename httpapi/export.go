package httpapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/tracking"
)

// spanReader is the tracking service as the export and summary routes need it.
type spanReader interface {
	PlanSpan(deviceID int64, from, to *time.Time) (tracking.Span, error)
	Export(ctx context.Context, ownerID int64, sp tracking.Span, start func(tracking.Device) error, emit func(tracking.Location) error) error
	Summary(ctx context.Context, ownerID int64, sp tracking.Span) (tracking.Summary, error)
}

// exportWriteWindow is how long an export may go without its client
// taking another exportDeadlinePoints points: the server's write timeout
// (60 s for the whole response) would cut any long export, so the
// deadline moves on as the client reads, and a client that stops reading
// is cut after this long.
const (
	exportWriteWindow    = 60 * time.Second
	exportDeadlinePoints = 1000
)

// handleExport streams the points of a span as GPX, CSV or GeoJSON, a
// file to download. The checks run in the route's order: the parameters
// (400), the user (410), the device (404); only then does the body start.
// Memory does not grow with the range: each point is written as it is
// read, and a failure after the start cuts the connection, as the route's.
func handleExport(logger *slog.Logger, us userGetter, sr spanReader) http.Handler {
	return apiHandler(logger, func(w http.ResponseWriter, r *http.Request) error {
		var format exportFormat
		sp, owner, err := planSpan(r, us, sr, func(q url.Values) (err error) {
			format, err = parseExportFormat(q.Get("format"))
			return err
		})
		if err != nil {
			return err
		}

		x := &exportStream{w: w, r: r, sp: sp, format: format, rc: http.NewResponseController(w)}
		err = sr.Export(r.Context(), owner, sp, x.start, x.point)
		if err == nil {
			err = x.finish()
			if err != nil {
				logger.DebugContext(r.Context(), "export not delivered",
					"request_id", requestID(r.Context()), "device_id", sp.DeviceID, "err", err)
			}
			return nil
		}
		if x.out == nil {
			return err
		}
		// The status is sent: only a cut connection can tell the client.
		logger.WarnContext(r.Context(), "export stream aborted",
			"request_id", requestID(r.Context()), "device_id", sp.DeviceID, "points", x.n, "err", err)
		panic(http.ErrAbortHandler)
	})
}

// planSpan reads the query's from and to, then the route's own parameters
// (params; nil: none), and resolves the span of the path's device and the
// signed-in owner, in the contract's order: a bad parameter (400) before
// the user (410) before the device (404).
func planSpan(r *http.Request, us userGetter, sr spanReader, params func(url.Values) error) (tracking.Span, int64, error) {
	q := r.URL.Query()
	from, to, err := parseSpanQuery(q)
	if err == nil && params != nil {
		err = params(q)
	}
	if err != nil {
		return tracking.Span{}, 0, err
	}
	// A malformed id plans as device 0; deviceOwner answers 404 for it.
	id, _ := pathDeviceID(r, "deviceId")
	sp, err := sr.PlanSpan(id, from, to)
	if err != nil {
		return sp, 0, err
	}
	owner, _, err := deviceOwner(r, us, "deviceId")
	return sp, owner, err
}

type exportFormat string

const (
	exportGPX     exportFormat = "gpx"
	exportCSV     exportFormat = "csv"
	exportGeoJSON exportFormat = "geojson"
)

// parseExportFormat reads format; empty is GPX, the format track apps open.
func parseExportFormat(s string) (exportFormat, error) {
	switch f := exportFormat(s); f {
	case "":
		return exportGPX, nil
	case exportGPX, exportCSV, exportGeoJSON:
		return f, nil
	}
	return "", &errs.FieldError{Field: "format", Msg: "must be gpx, csv or geojson"}
}

// exportStream writes an export while its points are read. Nothing is
// sent before start, which the service calls once it has found the
// device, so that a 404 is still answered normally.
type exportStream struct {
	w      http.ResponseWriter
	r      *http.Request
	rc     *http.ResponseController
	sp     tracking.Span
	format exportFormat

	out *bufio.Writer // nil until start
	gz  *gzip.Writer
	csv *csv.Writer
	n   int // points written

	rec     []string // a CSV record, reused
	scratch []byte
}

// csvHeader names the columns of a CSV export: the Location fields.
var csvHeader = [...]string{"recorded_at", "received_at", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps",
	"course_deg", "battery_pct", "motion", "odometer_m", "charging", "activity", "event", "alarm"}

// start sends the headers and what precedes the points.
func (x *exportStream) start(d tracking.Device) error {
	h := x.w.Header()
	switch x.format {
	case exportGPX:
		h.Set("Content-Type", "application/gpx+xml")
	case exportCSV:
		h.Set("Content-Type", "text/csv; charset=utf-8; header=present")
	case exportGeoJSON:
		h.Set("Content-Type", "application/geo+json")
	}
	h.Set("Content-Disposition", `attachment; filename="`+exportFileName(x.sp, x.format)+`"`)
	h.Set("Cache-Control", "private, no-cache")
	x.extendDeadline()
	x.out, x.gz = openStream(x.w, x.r)
	switch x.format {
	case exportGPX:
		return x.gpxStart(d)
	case exportCSV:
		x.csv = csv.NewWriter(x.out)
		x.csv.UseCRLF = true // RFC 4180
		x.rec = make([]string, len(csvHeader))
		return x.csv.Write(csvHeader[:])
	default:
		_, err := io.WriteString(x.out, `{"type":"FeatureCollection","features":[`)
		return err
	}
}

// extendDeadline gives the client another exportWriteWindow to take the
// next points. A writer without deadlines (a test's) just has none.
func (x *exportStream) extendDeadline() {
	_ = x.rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
}

// point writes one point; an error (the client went away) ends the export.
func (x *exportStream) point(l tracking.Location) error {
	x.n++
	if x.n%exportDeadlinePoints == 0 {
		x.extendDeadline()
	}
	switch x.format {
	case exportGPX:
		return x.gpxPoint(l)
	case exportCSV:
		return x.csvPoint(l)
	default:
		return x.geoPoint(l)
	}
}

// finish writes what follows the points and completes the body.
func (x *exportStream) finish() error {
	switch x.format {
	case exportGPX:
		io.WriteString(x.out, "</trkseg></trk>\n</gpx>\n")
	case exportCSV:
		x.csv.Flush()
		if err := x.csv.Error(); err != nil {
			return err
		}
	default:
		io.WriteString(x.out, "]}\n")
	}
	return closeStream(x.out, x.gz)
}

// exportFileName is device-42_20261127T000000Z_20261128T000000Z.gpx: the
// device id and the range, never the device's name (the user's text has no
// place in a header), so only [A-Za-z0-9_.-].
func exportFileName(sp tracking.Span, f exportFormat) string {
	const stamp = "20060102T150405Z"
	return fmt.Sprintf("device-%d_%s_%s.%s", sp.DeviceID, sp.From.UTC().Format(stamp), sp.To.UTC().Format(stamp), f)
}

// GPX 1.1 (https://www.topografix.com/GPX/1/1/): one track, one segment,
// a trkpt per point with ele (when known) and time, in the schema's order.
const gpxHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<gpx version="1.1" creator="usersync" xmlns="http://www.topografix.com/GPX/1/1"` +
	` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"` +
	` xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">` + "\n"

func (x *exportStream) gpxStart(d tracking.Device) error {
	var name bytes.Buffer
	_ = xml.EscapeText(&name, []byte(d.Name)) // it replaces what XML cannot hold; a buffer does not fail
	x.out.WriteString(gpxHeader)
	x.out.WriteString("<metadata><name>")
	x.out.Write(name.Bytes())
	x.out.WriteString("</name><time>")
	x.out.WriteString(jsontime.Format(time.Now()))
	x.out.WriteString("</time></metadata>\n<trk><name>")
	x.out.Write(name.Bytes())
	_, err := x.out.WriteString("</name><trkseg>\n")
	return err
}

func (x *exportStream) gpxPoint(l tracking.Location) error {
	lon := l.Lon
	if lon == 180 { // GPX's longitudeType is [-180, 180): the same meridian
		lon = -180
	}
	b := append(x.scratch[:0], `<trkpt lat="`...)
	b = strconv.AppendFloat(b, l.Lat, 'f', -1, 64) // xsd:decimal: no exponent
	b = append(b, `" lon="`...)
	b = strconv.AppendFloat(b, lon, 'f', -1, 64)
	b = append(b, `">`...)
	if l.AltitudeM != nil {
		b = append(b, "<ele>"...)
		b = strconv.AppendFloat(b, *l.AltitudeM, 'f', -1, 64)
		b = append(b, "</ele>"...)
	}
	b = append(b, "<time>"...)
	b = l.RecordedAt.UTC().AppendFormat(b, jsontime.Layout)
	b = append(b, "</time></trkpt>\n"...)
	x.scratch = b
	_, err := x.out.Write(b)
	return err
}

// csvPoint writes a point as a CSV record. Its fields are appended to one
// buffer and cut from one string: one allocation a row, not fifteen.
func (x *exportStream) csvPoint(l tracking.Location) error {
	var ends [len(csvHeader)]int
	n := 0
	b := x.scratch[:0]
	end := func() { ends[n] = len(b); n++ }
	num := func(v *float64) {
		if v != nil {
			b, _ = appendJSONFloat(b, *v) // the numbers of the JSON shapes; a stored one is finite
		}
		end()
	}
	flag := func(v *bool) {
		if v != nil {
			b = strconv.AppendBool(b, *v)
		}
		end()
	}
	text := func(v *string) {
		if v != nil {
			b = append(b, *v...) // csv.Writer quotes it as RFC 4180 needs
		}
		end()
	}
	b = l.RecordedAt.UTC().AppendFormat(b, jsontime.Layout)
	end()
	b = l.ReceivedAt.UTC().AppendFormat(b, jsontime.Layout)
	end()
	num(&l.Lat)
	num(&l.Lon)
	num(l.AccuracyM)
	num(l.AltitudeM)
	num(l.SpeedMPS)
	num(l.CourseDeg)
	num(l.BatteryPct)
	flag(l.Motion)
	num(l.OdometerM)
	flag(l.Charging)
	text(l.Activity)
	text(l.Event)
	text(l.Alarm)
	x.scratch = b
	row, start := string(b), 0
	for i, e := range ends {
		x.rec[i] = row[start:e]
		start = e
	}
	return x.csv.Write(x.rec)
}

// geoPoint writes a point as a GeoJSON Feature: a Point geometry (longitude
// first) and the Location as its properties. Features of points, not one
// LineString, so that nothing has to wait for the end of the range.
func (x *exportStream) geoPoint(l tracking.Location) error {
	if x.n > 1 {
		x.out.WriteByte(',')
	}
	x.out.WriteString(`{"type":"Feature","geometry":{"type":"Point","coordinates":`)
	b, ok := appendPosition(x.scratch[:0], position(l))
	if !ok {
		return fmt.Errorf("export: position %v is not a JSON number", position(l))
	}
	x.scratch = b
	x.out.Write(b)
	x.out.WriteString(`},"properties":`)
	props, err := json.Marshal(toLocationJSON(&l))
	if err != nil {
		return err
	}
	x.out.Write(props)
	return x.out.WriteByte('}')
}

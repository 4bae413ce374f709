package httpapi

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/usersync/usersync/jsontime"
	"github.com/usersync/usersync/tracking"
)

// routeStream writes a route page while its points are read, as the
// route's JSON or as a GeoJSON FeatureCollection, gzipped when the client
// accepts it. Nothing is sent before the first point (or finish), so that
// an error found before it, such as a 404, is still answered normally.
type routeStream struct {
	w    http.ResponseWriter
	r    *http.Request
	plan tracking.RoutePlan
	geo  bool

	out *bufio.Writer // nil until the response starts
	gz  *gzip.Writer  // under out, when the client accepts gzip
	n   int           // points written

	// GeoJSON only: the geometry is a Point or a LineString, which the
	// second point decides, so the first waits; coordTimes follow the
	// coordinates, so the times wait.
	first tracking.Location
	times []jsontime.Time

	scratch []byte // a point's JSON, reused
}

func newRouteStream(w http.ResponseWriter, r *http.Request, plan tracking.RoutePlan, geo bool) *routeStream {
	return &routeStream{w: w, r: r, plan: plan, geo: geo}
}

func (s *routeStream) started() bool { return s.out != nil }

// start sends the status and headers and opens the body.
func (s *routeStream) start() error {
	if s.started() {
		return nil
	}
	h := s.w.Header()
	if s.geo {
		h.Set("Content-Type", "application/geo+json")
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("Cache-Control", "private, no-cache")
	s.out, s.gz = openStream(s.w, s.r)
	if s.geo {
		_, err := io.WriteString(s.out, `{"type":"FeatureCollection","features":[`)
		return err
	}
	_, err := fmt.Fprintf(s.out, `{"device_id":%d,"from":%s,"to":%s,"points":[`,
		s.plan.DeviceID, jsonTime(s.plan.From), jsonTime(s.plan.To))
	return err
}

// point writes one point; an error (the client went away) ends the page.
func (s *routeStream) point(l tracking.Location) error {
	if err := s.start(); err != nil {
		return err
	}
	s.n++
	if s.geo {
		return s.geoPoint(l)
	}
	if s.n > 1 {
		if err := s.out.WriteByte(','); err != nil {
			return err
		}
	}
	return s.routePoint(toLocationJSON(&l))
}

// routePoint writes a point as json.Marshal would, without its reflection.
func (s *routeStream) routePoint(l *locationJSON) error {
	b, ok := appendRoutePoint(s.scratch[:0], l)
	if !ok {
		return s.value(l) // json.Marshal's error
	}
	s.scratch = b
	_, err := s.out.Write(b)
	return err
}

// position writes a GeoJSON position as json.Marshal would.
func (s *routeStream) position(p [2]float64) error {
	b, ok := appendPosition(s.scratch[:0], p)
	if !ok {
		return s.value(p)
	}
	s.scratch = b
	_, err := s.out.Write(b)
	return err
}

// value writes v as JSON. json.Marshal rather than a json.Encoder: an
// Encoder ends every value with a newline.
func (s *routeStream) value(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.out.Write(b)
	return err
}

func (s *routeStream) geoPoint(l tracking.Location) error {
	s.times = append(s.times, jsontime.Of(l.RecordedAt))
	switch s.n {
	case 1:
		s.first = l
		return nil
	case 2:
		if _, err := io.WriteString(s.out, `{"type":"Feature","geometry":{"type":"LineString","coordinates":[`); err != nil {
			return err
		}
		if err := s.position(position(s.first)); err != nil {
			return err
		}
	}
	if err := s.out.WriteByte(','); err != nil {
		return err
	}
	return s.position(position(l))
}

// finish writes what follows the points and completes the body. Errors of
// a bufio.Writer are sticky: Flush reports the first of any write here.
func (s *routeStream) finish(page tracking.RoutePage) error {
	if err := s.start(); err != nil {
		return err
	}
	next, _ := json.Marshal(nullIfEmpty(page.NextCursor)) // a string or null: cannot fail
	if s.geo {
		s.finishGeo(next)
	} else {
		fmt.Fprintf(s.out, `],"count":%d,"raw_count":%d,"simplified":%t,"next_cursor":%s}`+"\n",
			page.Count, page.RawCount, page.Simplified, next)
	}
	return closeStream(s.out, s.gz)
}

// finishGeo ends the Feature, if there are points, and the collection.
func (s *routeStream) finishGeo(next []byte) {
	switch {
	case s.n == 1:
		s.out.WriteString(`{"type":"Feature","geometry":{"type":"Point","coordinates":`)
		s.position(position(s.first))
	case s.n >= 2:
		s.out.WriteString("]") // the LineString's coordinates
	}
	if s.n > 0 {
		s.out.WriteString(`},"properties":`)
		s.value(struct {
			DeviceID   int64           `json:"device_id"`
			CoordTimes []jsontime.Time `json:"coordTimes"`
		}{s.plan.DeviceID, s.times})
		s.out.WriteString("}")
	}
	fmt.Fprintf(s.out, `],"next_cursor":%s}`+"\n", next)
}

// position is a GeoJSON position: longitude first (RFC 7946, section 3.1.1).
func position(l tracking.Location) [2]float64 { return [2]float64{l.Lon, l.Lat} }

func jsonTime(t time.Time) string {
	b, _ := jsontime.Append(nil, t) // years 0–9999, all a query can name
	return string(b)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

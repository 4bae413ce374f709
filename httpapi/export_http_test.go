package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/testkit"
)

// exportFixture is a device with three points that exercise the formats:
// every attribute and a text that CSV must quote; the antimeridian and no
// altitude; a coordinate JSON would write with an exponent.
type exportFixture struct {
	s        *trackingServer
	session  string
	deviceID int64
	from, to time.Time
	points   []storedPoint
}

func newExportFixture(t *testing.T, s *trackingServer) exportFixture {
	t.Helper()
	ann, d, token := s.annsDevice(t)
	// A name XML must escape.
	s.do(t, http.MethodPatch, fmt.Sprintf("/api/devices/%d", d.ID), ann, `{"name":"Bella & <Rex> \"dogs\""}`).want(t, http.StatusOK)
	base := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second).Add(123 * time.Millisecond)
	points := []storedPoint{
		{RecordedAt: base, Lat: 52.520008, Lon: 13.404954, AccuracyM: f64(4.8), AltitudeM: f64(41.2), SpeedMPS: f64(1.39),
			CourseDeg: f64(271.5), BatteryPct: f64(87), Motion: ptrTo(true), OdometerM: f64(12345.6), Charging: ptrTo(false),
			Activity: ptrTo("walking"), Event: ptrTo(`left "home", late`), Alarm: ptrTo("sos")},
		{RecordedAt: base.Add(time.Second), Lat: -16.5, Lon: 180, SpeedMPS: f64(0)},
		{RecordedAt: base.Add(2 * time.Second), Lat: 1e-7, Lon: 0.5, AltitudeM: f64(-12.25)},
	}
	var batch []string
	for _, p := range points {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, string(b))
	}
	s.ingest(t, token, batch...)
	return exportFixture{s: s, session: ann, deviceID: d.ID, from: base.Add(-time.Minute), to: base.Add(time.Minute), points: points}
}

func (f exportFixture) get(t *testing.T, format string, header ...string) response {
	t.Helper()
	q := url.Values{"from": {rfc3339(f.from)}, "to": {rfc3339(f.to)}}
	if format != "" {
		q.Set("format", format)
	}
	return f.s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/export?%s", f.deviceID, q.Encode()), f.session, "", header...)
}

// download gets the export in format (file extension ext) and checks the
// headers of a file to download: 200, the content type, and the file name
// of the device and the range.
func (f exportFixture) download(t *testing.T, format, ext, contentType string) response {
	t.Helper()
	res := f.get(t, format).want(t, http.StatusOK)
	if ct := res.header.Get("Content-Type"); ct != contentType {
		t.Errorf("Content-Type %q, want %q", ct, contentType)
	}
	wantName := fmt.Sprintf(`attachment; filename="device-%d_%s_%s.%s"`, f.deviceID,
		f.from.Format("20060102T150405Z"), f.to.Format("20060102T150405Z"), ext)
	if cd := res.header.Get("Content-Disposition"); cd != wantName {
		t.Errorf("Content-Disposition %q, want %q", cd, wantName)
	}
	return res
}

// gpxDoc is the part of GPX 1.1 an export writes.
type gpxDoc struct {
	XMLName  xml.Name `xml:"http://www.topografix.com/GPX/1/1 gpx"`
	Version  string   `xml:"version,attr"`
	Creator  string   `xml:"creator,attr"`
	Metadata struct {
		Name string `xml:"name"`
		Time string `xml:"time"`
	} `xml:"metadata"`
	Trk []struct {
		Name   string `xml:"name"`
		Trkseg []struct {
			Trkpt []struct {
				Lat  string  `xml:"lat,attr"`
				Lon  string  `xml:"lon,attr"`
				Ele  *string `xml:"ele"`
				Time string  `xml:"time"`
			} `xml:"trkpt"`
		} `xml:"trkseg"`
	} `xml:"trk"`
}

// gpxOrder is what GPX 1.1's schema allows inside the elements an export
// writes, in its sequence order; "*" marks an element that may repeat.
var gpxOrder = map[string][]string{
	"gpx":      {"metadata", "wpt*", "rte*", "trk*", "extensions"},
	"metadata": {"name", "desc", "author", "copyright", "link*", "time", "keywords", "bounds", "extensions"},
	"trk":      {"name", "cmt", "desc", "src", "link*", "number", "type", "extensions", "trkseg*"},
	"trkseg":   {"trkpt*", "extensions"},
	"trkpt": {"ele", "time", "magvar", "geoidheight", "name", "cmt", "desc", "src", "link*", "sym", "type", "fix",
		"sat", "hdop", "vdop", "pdop", "ageofdgpsdata", "dgpsid", "extensions"},
}

// decimal is xsd:decimal: no exponent, no NaN.
var decimal = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)$`)

// checkGPX checks what a GPX 1.1 validator checks of the elements an
// export writes: the namespace, each element's children in the schema's
// order and number, no text where only elements go, lat and lon as
// decimals in the schema's ranges (lon in [-180, 180)), ele a decimal,
// time an xsd:dateTime.
func checkGPX(t *testing.T, body []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	type open struct {
		name string
		next int // index in gpxOrder[name] the next child may take
	}
	var stack []open
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GPX is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space != "http://www.topografix.com/GPX/1/1" {
				t.Fatalf("element %s outside the GPX 1.1 namespace", tok.Name.Local)
			}
			name := tok.Name.Local
			if len(stack) == 0 && name != "gpx" {
				t.Fatalf("root element %s, want gpx", name)
			}
			if len(stack) > 0 {
				parent := &stack[len(stack)-1]
				order, ok := gpxOrder[parent.name]
				if !ok {
					t.Fatalf("%s holds an element %s; it holds only text", parent.name, name)
				}
				i := parent.next
				for i < len(order) && strings.TrimSuffix(order[i], "*") != name {
					i++
				}
				if i == len(order) {
					t.Fatalf("%s inside %s is out of the schema's order or not allowed", name, parent.name)
				}
				parent.next = i
				if !strings.HasSuffix(order[i], "*") {
					parent.next = i + 1
				}
			}
			for _, a := range tok.Attr {
				v, err := strconv.ParseFloat(a.Value, 64)
				switch {
				case name != "trkpt":
				case a.Name.Local == "lat" && (!decimal.MatchString(a.Value) || err != nil || v < -90 || v > 90):
					t.Fatalf("trkpt lat %q is not a latitudeType", a.Value)
				case a.Name.Local == "lon" && (!decimal.MatchString(a.Value) || err != nil || v < -180 || v >= 180):
					t.Fatalf("trkpt lon %q is not a longitudeType", a.Value)
				}
			}
			if name == "ele" || name == "time" {
				var text string
				if err := dec.DecodeElement(&text, &tok); err != nil {
					t.Fatal(err)
				}
				if name == "ele" && !decimal.MatchString(text) {
					t.Fatalf("ele %q is not an xsd:decimal", text)
				}
				if _, err := time.Parse(time.RFC3339Nano, text); name == "time" && err != nil {
					t.Fatalf("time %q is not an xsd:dateTime", text)
				}
				continue
			}
			stack = append(stack, open{name: name})
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && gpxOrder[stack[len(stack)-1].name] != nil && len(bytes.TrimSpace(tok)) > 0 {
				t.Fatalf("text %q inside %s", tok, stack[len(stack)-1].name)
			}
		}
	}
}

// TestExportGPX: a GPX 1.1 document, parsed back and checked.
func TestExportGPX(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		f := newExportFixture(t, s)
		for _, format := range []string{"gpx", ""} { // GPX is the default
			res := f.download(t, format, "gpx", "application/gpx+xml")
			checkGPX(t, res.body)
			var doc gpxDoc
			if err := xml.Unmarshal(res.body, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Version != "1.1" || doc.Creator != "usersync" || doc.Metadata.Name != `Bella & <Rex> "dogs"` || len(doc.Trk) != 1 ||
				doc.Trk[0].Name != doc.Metadata.Name || len(doc.Trk[0].Trkseg) != 1 {
				t.Fatalf("document %+v", doc)
			}
			if _, err := time.Parse(time.RFC3339, doc.Metadata.Time); err != nil {
				t.Errorf("metadata time %q: %v", doc.Metadata.Time, err)
			}
			pts := doc.Trk[0].Trkseg[0].Trkpt
			if len(pts) != len(f.points) {
				t.Fatalf("%d trkpt, want %d", len(pts), len(f.points))
			}
			for i, p := range pts {
				want := f.points[i]
				lat, _ := strconv.ParseFloat(p.Lat, 64)
				lon, _ := strconv.ParseFloat(p.Lon, 64)
				at, _ := time.Parse(time.RFC3339Nano, p.Time)
				wantLon := want.Lon
				if wantLon == 180 {
					wantLon = -180 // the same meridian, in GPX's range
				}
				if lat != want.Lat || lon != wantLon || !at.Equal(want.RecordedAt) {
					t.Errorf("trkpt %d: %s %s %s, want %v %v %v", i, p.Lat, p.Lon, p.Time, want.Lat, wantLon, want.RecordedAt)
				}
				if (p.Ele == nil) != (want.AltitudeM == nil) || p.Ele != nil && *p.Ele != strconv.FormatFloat(*want.AltitudeM, 'f', -1, 64) {
					t.Errorf("trkpt %d: ele %v, want %v", i, p.Ele, want.AltitudeM)
				}
			}
		}
	})
}

// TestExportCSV: RFC 4180 with a header row of the Location field names,
// parsed back with encoding/csv.
func TestExportCSV(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		f := newExportFixture(t, s)
		res := f.download(t, "csv", "csv", "text/csv; charset=utf-8; header=present")
		if !bytes.HasSuffix(res.body, []byte("\r\n")) || bytes.Count(res.body, []byte("\r\n")) != len(f.points)+1 {
			t.Errorf("want CRLF line ends, one per record: %q", res.body)
		}
		r := csv.NewReader(bytes.NewReader(res.body))
		r.FieldsPerRecord = 15
		records, err := r.ReadAll()
		if err != nil {
			t.Fatalf("not RFC 4180: %v", err)
		}
		header := []string{"recorded_at", "received_at", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "course_deg",
			"battery_pct", "motion", "odometer_m", "charging", "activity", "event", "alarm"}
		if diff := cmp.Diff(header, records[0]); diff != "" {
			t.Fatalf("header (-want +got):\n%s", diff)
		}
		num := func(v *float64) string {
			if v == nil {
				return ""
			}
			return strconv.FormatFloat(*v, 'g', -1, 64)
		}
		for i, rec := range records[1:] {
			p := f.points[i]
			if rec[0] != p.RecordedAt.Format("2006-01-02T15:04:05.000Z") {
				t.Errorf("row %d recorded_at %q, want %s with milliseconds", i, rec[0], p.RecordedAt)
			}
			if received, err := time.Parse(time.RFC3339Nano, rec[1]); err != nil || time.Since(received) > time.Hour {
				t.Errorf("row %d received_at %q", i, rec[1])
			}
			got := map[string]string{}
			for j, name := range header[2:] {
				v := rec[j+2]
				if f, err := strconv.ParseFloat(v, 64); err == nil && name != "activity" && name != "event" && name != "alarm" {
					v = strconv.FormatFloat(f, 'g', -1, 64) // compare numbers, not spellings
				}
				got[name] = v
			}
			str := func(v *string) string {
				if v == nil {
					return ""
				}
				return *v
			}
			flag := func(v *bool) string {
				if v == nil {
					return ""
				}
				return strconv.FormatBool(*v)
			}
			want := map[string]string{"lat": num(&p.Lat), "lon": num(&p.Lon), "accuracy_m": num(p.AccuracyM), "altitude_m": num(p.AltitudeM),
				"speed_mps": num(p.SpeedMPS), "course_deg": num(p.CourseDeg), "battery_pct": num(p.BatteryPct), "motion": flag(p.Motion),
				"odometer_m": num(p.OdometerM), "charging": flag(p.Charging), "activity": str(p.Activity), "event": str(p.Event), "alarm": str(p.Alarm)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("row %d (-want +got):\n%s", i, diff)
			}
		}
		if !bytes.Contains(res.body, []byte(`"left ""home"", late"`)) {
			t.Errorf("the event with quotes and a comma is not quoted per RFC 4180:\n%s", res.body)
		}

		// gzip: the same bytes, compressed.
		zipped := f.get(t, "csv", "Accept-Encoding", "gzip").want(t, http.StatusOK)
		if zipped.header.Get("Content-Encoding") != "gzip" || !strings.Contains(zipped.header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("headers %v, want gzip", zipped.header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(zipped.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		// received_at is the same: both read the same rows.
		if !bytes.Equal(plain, res.body) {
			t.Errorf("gunzipped body differs from the plain one:\n%s\n%s", plain, res.body)
		}
	})
}

// TestExportGeoJSON: a FeatureCollection of Point Features whose
// properties are the Locations.
func TestExportGeoJSON(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		f := newExportFixture(t, s)
		res := f.download(t, "geojson", "geojson", "application/geo+json")
		var fc struct {
			Type     string `json:"type"`
			Features []struct {
				Type     string `json:"type"`
				Geometry struct {
					Type        string    `json:"type"`
					Coordinates []float64 `json:"coordinates"`
				} `json:"geometry"`
				Properties struct {
					storedPoint
					ReceivedAt *time.Time `json:"received_at"`
				} `json:"properties"`
			} `json:"features"`
		}
		dec := json.NewDecoder(bytes.NewReader(res.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fc); err != nil {
			t.Fatalf("%v: %s", err, res.body)
		}
		if fc.Type != "FeatureCollection" || len(fc.Features) != len(f.points) {
			t.Fatalf("%s with %d features, want a FeatureCollection of %d", fc.Type, len(fc.Features), len(f.points))
		}
		for i, feat := range fc.Features {
			p := f.points[i]
			if feat.Type != "Feature" || feat.Geometry.Type != "Point" || !slices.Equal(feat.Geometry.Coordinates, []float64{p.Lon, p.Lat}) {
				t.Errorf("feature %d: %+v, want a Point at [%v, %v]", i, feat, p.Lon, p.Lat)
			}
			if diff := cmp.Diff(p, feat.Properties.storedPoint); diff != "" || feat.Properties.ReceivedAt == nil {
				t.Errorf("feature %d properties (-want +got):\n%s (received_at %v)", i, diff, feat.Properties.ReceivedAt)
			}
		}
	})
}

// TestExportEmptyRange: a valid, empty document in every format.
func TestExportEmptyRange(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		f := newExportFixture(t, s)
		f.from, f.to = f.from.Add(-48*time.Hour), f.to.Add(-48*time.Hour)

		gpx := f.get(t, "gpx").want(t, http.StatusOK)
		checkGPX(t, gpx.body)
		var doc gpxDoc
		if err := xml.Unmarshal(gpx.body, &doc); err != nil || len(doc.Trk) != 1 || len(doc.Trk[0].Trkseg) != 1 || len(doc.Trk[0].Trkseg[0].Trkpt) != 0 {
			t.Errorf("empty GPX %+v, %v; want one empty trkseg", doc, err)
		}
		if got := f.get(t, "csv").want(t, http.StatusOK).body; !bytes.Equal(got, []byte("recorded_at,received_at,lat,lon,accuracy_m,altitude_m,"+
			"speed_mps,course_deg,battery_pct,motion,odometer_m,charging,activity,event,alarm\r\n")) {
			t.Errorf("empty CSV %q, want the header only", got)
		}
		if got := f.get(t, "geojson").want(t, http.StatusOK).body; string(got) != `{"type":"FeatureCollection","features":[]}`+"\n" {
			t.Errorf("empty GeoJSON %q", got)
		}
	})
}

// TestSummaryHTTP: the contract's keys, distance along a known polyline,
// nulls for an empty range.
func TestSummaryHTTP(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann, d, token := s.annsDevice(t)
		base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		// One degree east along the equator, then one degree north along
		// the meridian 1° E, then back: 3° of great circles.
		s.ingest(t, token,
			`{"recorded_at":"`+rfc3339(base)+`","lat":0,"lon":1e-9,"speed_mps":3.5}`,
			`{"recorded_at":"`+rfc3339(base.Add(time.Minute))+`","lat":0,"lon":1}`,
			`{"recorded_at":"`+rfc3339(base.Add(2*time.Minute))+`","lat":1,"lon":1,"speed_mps":20.25}`,
			`{"recorded_at":"`+rfc3339(base.Add(3*time.Minute))+`","lat":0,"lon":1,"speed_mps":-1}`)

		get := func(from, to time.Time) response {
			q := url.Values{"from": {rfc3339(from)}, "to": {rfc3339(to)}}
			return s.do(t, http.MethodGet, fmt.Sprintf("/api/locations/%d/summary?%s", d.ID, q.Encode()), ann, "")
		}
		res := get(base, base.Add(time.Hour)).want(t, http.StatusOK)
		// Exactly the contract's keys; times in the API's fixed-width form.
		ms := func(at time.Time) string { return at.UTC().Format("2006-01-02T15:04:05.000Z") }
		want := map[string]any{
			"device_id": float64(d.ID), "from": ms(base), "to": ms(base.Add(time.Hour)), "points": 4.0,
			"first_recorded_at": ms(base), "last_recorded_at": ms(base.Add(3 * time.Minute)),
			"max_speed_mps": 20.25, "bbox": []any{1e-9, 0.0, 1.0, 1.0},
		}
		var got map[string]any
		res.json(t, &got)
		distance, ok := got["distance_m"].(float64) // checked apart: it is a sum of floating-point terms
		delete(got, "distance_m")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("summary (-want +got):\n%s", diff)
		}
		const r = 6371008.8
		if wantDistance := 3 * r * math.Pi / 180; !ok || math.Abs(distance-wantDistance) > 1e-3 {
			t.Errorf("distance %.6f m, want %.6f", distance, wantDistance)
		}

		empty := get(base.Add(-2*time.Hour), base.Add(-time.Hour)).want(t, http.StatusOK)
		var raw map[string]json.RawMessage
		empty.json(t, &raw)
		for k, want := range map[string]string{"points": "0", "distance_m": "0", "first_recorded_at": "null",
			"last_recorded_at": "null", "max_speed_mps": "null", "bbox": "null"} {
			if string(raw[k]) != want {
				t.Errorf("empty range: %s = %s, want %s", k, raw[k], want)
			}
		}
	})
}

// TestExportAndSummaryErrors: the route's rules, in the route's order.
func TestExportAndSummaryErrors(t *testing.T) {
	eachTrackingServer(t, func(t *testing.T, s *trackingServer) {
		ann := s.user(t, "user_ann")
		bob := s.user(t, "user_bob")
		d, _ := s.createDevice(t, ann, "Bella")
		bobs, _ := s.createDevice(t, bob, "Rex")
		id := strconv.FormatInt(d.ID, 10)
		now := time.Now().UTC()
		span := func(from, to time.Time) string {
			return url.Values{"from": {rfc3339(from)}, "to": {rfc3339(to)}}.Encode()
		}
		const notFound = `{"error":"device not found"}` + "\n"

		for _, route := range []string{"export", "summary"} {
			path := func(id, query string) string { return "/api/locations/" + id + "/" + route + "?" + query }
			for _, tc := range []struct {
				name, path string
				want       int
				body       string // a prefix of the body
			}{
				{"from not a time", path(id, "from=yesterday"), http.StatusBadRequest, `{"error":"from: must be an RFC 3339 time`},
				{"to not a time", path(id, "to=2026-13-01T00:00:00Z"), http.StatusBadRequest, `{"error":"to: must be an RFC 3339 time`},
				{"from after to", path(id, span(now, now.Add(-time.Hour))), http.StatusBadRequest, `{"error":"from: must be before to"}`},
				{"from equal to", path(id, span(now, now)), http.StatusBadRequest, `{"error":"from: must be before to"}`},
				{"span over ROUTE_MAX_SPAN", path(id, span(now.Add(-32*24*time.Hour), now)), http.StatusBadRequest, `{"error":"from: must be at most 31 days before to"}`},
				{"span of exactly ROUTE_MAX_SPAN", path(id, span(now.Add(-31*24*time.Hour), now)), http.StatusOK, ""},
				{"a bad range before a bad device", path("999999", "from=yesterday"), http.StatusBadRequest, `{"error":"from:`},
				{"absent", path("999999", ""), http.StatusNotFound, notFound},
				{"another user's", path(strconv.FormatInt(bobs.ID, 10), ""), http.StatusNotFound, notFound},
				{"malformed", path("abc", ""), http.StatusNotFound, notFound},
				{"leading zero", path("0"+id, ""), http.StatusNotFound, notFound},
				{"signed", path("+"+id, ""), http.StatusNotFound, notFound},
			} {
				res := s.do(t, http.MethodGet, tc.path, ann, "")
				if res.status != tc.want || !strings.HasPrefix(string(res.body), tc.body) {
					t.Errorf("%s %s: %d %q, want %d %q", route, tc.name, res.status, res.body, tc.want, tc.body)
				}
				if tc.body == notFound && string(res.body) != notFound {
					t.Errorf("%s %s: %q is not byte for byte the 404 of an absent device", route, tc.name, res.body)
				}
			}
			if res := s.do(t, http.MethodGet, path(id, ""), "", ""); res.status != http.StatusUnauthorized {
				t.Errorf("%s without a session: %d", route, res.status)
			}
			// A user without a row owns nothing.
			noRow := s.key.Sign(t, testkit.SessionClaims("user_no_row"))
			if res := s.do(t, http.MethodGet, path(id, ""), noRow, ""); res.status != http.StatusNotFound || string(res.body) != notFound {
				t.Errorf("%s by a user without a row: %d %q", route, res.status, res.body)
			}
		}
		// The format is checked after the range, and before the device.
		const badFormat = `{"error":"format: must be gpx, csv or geojson"}` + "\n"
		for _, tc := range []struct{ path, want string }{
			{"/api/locations/" + id + "/export?format=kml", badFormat},
			{"/api/locations/999999/export?format=kml", badFormat},
			{"/api/locations/" + id + "/export?format=kml&from=yesterday", `{"error":"from: must be an RFC 3339 time`},
		} {
			if res := s.do(t, http.MethodGet, tc.path, ann, ""); res.status != http.StatusBadRequest || !strings.HasPrefix(string(res.body), tc.want) {
				t.Errorf("%s: %d %q, want 400 %q", tc.path, res.status, res.body, tc.want)
			}
		}

		// A deleted user: 410, before the device, whether the id is
		// another user's, absent or malformed.
		gone := s.user(t, "user_gone")
		if _, err := s.users.Delete(t.Context(), "user_gone", time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, route := range []string{"export", "summary"} {
			for _, devID := range []string{id, "999999", "abc"} {
				if res := s.do(t, http.MethodGet, "/api/locations/"+devID+"/"+route, gone, ""); res.status != http.StatusGone {
					t.Errorf("%s of device %s by a deleted user: %d %s, want 410", route, devID, res.status, res.body)
				}
			}
		}
	})
}

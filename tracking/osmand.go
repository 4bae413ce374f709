package tracking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OsmAndReport is one position decoded from an OsmAnd request.
type OsmAndReport struct {
	// Token is the device credential as sent in the request ("id", "deviceid"
	// or "device_id"), empty when absent: the HTTP layer then takes it from the
	// Bearer header. It is a secret: never log it.
	Token string
	// Location is decoded, not validated: call Normalize before storing it.
	// ReceivedAt is left zero for the caller to stamp.
	Location Location
	// NoFix marks a report without coordinates, such as Traccar Client
	// 10.x's heartbeat or its push-token registration: it shows that the
	// device is alive, and Location holds no position.
	NoFix bool
	// PushToken is the notificationToken of a push-token registration
	// (Traccar Client 10.x), "" if none. Never log it either.
	PushToken string
}

// maxOsmAndReports caps a JSON array, as the batch endpoint caps its points.
const maxOsmAndReports = 1000

// unixMillisThreshold tells Unix seconds from Unix milliseconds by magnitude:
// below 1e11 is seconds (until the year 5138), from it on milliseconds (since
// March 1973). Traccar's own cut, 2^31, would misread seconds after 2038.
const unixMillisThreshold = 1e11

// osmAndFlatKeys are the flat parameters this decoder reads; a constant table.
var osmAndFlatKeys = [...]string{
	"id", "deviceid", "lat", "lon", "timestamp", "speed",
	"bearing", "heading", "altitude", "accuracy", "batt",
	"motion", "charge", "odometer", "event", "alarm", "notificationToken",
}

// ParseOsmAnd decodes an OsmAnd request as Traccar's server does, returning at
// least one report when err is nil. It accepts:
//
//   - flat parameters in query (a GET, or a POST with an empty body);
//   - an application/x-www-form-urlencoded body, merged over query (Traccar
//     reads such a body only when the query is empty);
//   - a JSON array of flat objects, or one flat object, each merged over query;
//   - the nested object of Traccar Client's JSON mode (9.x): {"device_id",
//     "location": {"timestamp", "coords": {…}, "battery": {"level"}, …}},
//     whose "location" may also be an array of such objects; without
//     device_id the query's token is used; without coords it has no fix.
//     See nestedAttributes for the rest of the location.
//
// A body is JSON when contentType says so; without a JSON or form content type
// it is sniffed (JSON when it starts with '{' or '['). At most 1000 reports.
//
// Flat parameters: the token as id (preferred) or deviceid, a body's token
// replacing the query's; lat, lon (required); timestamp as Unix seconds or
// milliseconds told apart by magnitude (see unixMillisThreshold; a fraction is
// allowed), RFC 3339, or "yyyy-MM-dd HH:mm:ss" taken as UTC, absent meaning
// now; speed in speedUnit, converted to m/s; bearing (preferred) or heading;
// altitude (m); accuracy (m); batt (%); and the attributes of
// flatAttributes (motion, charge, odometer, event, alarm). Without lat and
// lon the report has no fix (NoFix); notificationToken is a push-token
// registration. Unknown parameters are ignored; when
// one appears twice the last value wins, as in Traccar; an empty value is
// unknown. Nested JSON gives speed in m/s and battery level in 0–1. Numbers
// may be JSON numbers or strings. A negative battery is a platform's
// "unknown" and becomes nil; the other sentinels are Normalize's job.
//
// A malformed value, a missing lat or lon, an unparsable timestamp or body is a
// *errs.FieldError naming the parameter ("[3].lat" in an
// array). An unknown speedUnit is a programming error, not errs.Invalid.
func ParseOsmAnd(query url.Values, contentType string, body []byte, speedUnit SpeedUnit, now time.Time) ([]OsmAndReport, error) {
	factor, err := speedUnit.metersPerSecond()
	if err != nil {
		return nil, fmt.Errorf("tracking: ParseOsmAnd: unknown speed unit %q", string(speedUnit))
	}
	p := osmAndParser{speedFactor: factor, now: now}
	params := lastValues(query)

	body = bytes.TrimSpace(body)
	if len(body) > 0 {
		if isJSONBody(contentType, body) {
			return p.parseJSON(params, body)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, invalid("body", "malformed form data")
		}
		params = overlay(params, lastValues(form))
	}
	r, err := p.flat(params, "")
	if err != nil {
		return nil, err
	}
	return []OsmAndReport{r}, nil
}

// isJSONBody trusts a JSON or form content type and sniffs any other.
func isJSONBody(contentType string, body []byte) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case mt == "application/json", mt == "text/json", strings.HasSuffix(mt, "+json"):
		return true
	case mt == "application/x-www-form-urlencoded":
		return false
	}
	return body[0] == '{' || body[0] == '['
}

// lastValues flattens url.Values keeping each key's last value, as Traccar's
// decoder ends up doing.
func lastValues(v url.Values) map[string]string {
	m := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) > 0 {
			m[k] = vs[len(vs)-1]
		}
	}
	return m
}

// overlay returns query with body's parameters over it. A token in the body
// replaces the query's whichever of id or deviceid each uses.
func overlay(query, body map[string]string) map[string]string {
	m := make(map[string]string, len(query)+len(body))
	for k, v := range query {
		m[k] = v
	}
	if body["id"] != "" || body["deviceid"] != "" {
		delete(m, "id")
		delete(m, "deviceid")
	}
	for k, v := range body {
		m[k] = v
	}
	return m
}

type osmAndParser struct {
	speedFactor float64 // m/s per unit of the flat "speed" parameter
	now         time.Time
}

func (p osmAndParser) parseJSON(query map[string]string, body []byte) ([]OsmAndReport, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep numbers exact until parsed, and strings apart from numbers
	// Bounded while decoding: an array of a million objects is refused at
	// its 1001st, before the others are built.
	bd := boundedDecoder{dec: dec, maxArray: maxOsmAndReports, maxValues: maxOsmAndValues, maxDepth: maxOsmAndDepth}
	root, err := bd.value(0)
	switch {
	case errors.Is(err, errTooManyElements):
		return nil, invalid("body", "must hold at most %d locations", maxOsmAndReports)
	case errors.Is(err, errTooManyValues), errors.Is(err, errTooDeep):
		return nil, invalid("body", "too many values or nested too deeply for %d locations", maxOsmAndReports)
	case err != nil:
		return nil, invalid("body", "malformed JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("body", "malformed JSON: data after the top-level value")
	}

	var out []OsmAndReport
	switch v := root.(type) {
	case map[string]any:
		return p.object(nil, query, v, "")
	case []any:
		if len(v) == 0 {
			return nil, invalid("body", "must hold at least one location")
		}
		for i, e := range v {
			prefix := "[" + strconv.Itoa(i) + "]"
			obj, ok := e.(map[string]any)
			if !ok {
				return nil, invalid(prefix, "must be an object")
			}
			var err error
			if out, err = p.object(out, query, obj, prefix+"."); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		return nil, invalid("body", "must be a JSON object or array")
	}
}

// object appends the reports of one JSON object, flat or nested, to out.
func (p osmAndParser) object(out []OsmAndReport, query map[string]string, obj map[string]any, prefix string) ([]OsmAndReport, error) {
	switch obj["location"].(type) {
	case map[string]any, []any:
		return p.nested(out, query, obj, prefix)
	}
	body := make(map[string]string, len(osmAndFlatKeys))
	for _, k := range osmAndFlatKeys {
		switch v := obj[k].(type) {
		case nil: // absent or null: not given
		case string:
			body[k] = v
		case json.Number:
			body[k] = v.String()
		case bool: // Traccar Client 10.x's JSON mode sends "charge": true
			body[k] = strconv.FormatBool(v)
		default:
			return nil, invalid(prefix+k, "must be a string, a number or a boolean")
		}
	}
	r, err := p.flat(overlay(query, body), prefix)
	if err != nil {
		return nil, err
	}
	return appendReports(out, r)
}

func appendReports(out []OsmAndReport, r ...OsmAndReport) ([]OsmAndReport, error) {
	if len(out)+len(r) > maxOsmAndReports {
		return nil, invalid("body", "must hold at most %d locations", maxOsmAndReports)
	}
	return append(out, r...), nil
}

// flat decodes one report from flat parameters.
func (p osmAndParser) flat(params map[string]string, prefix string) (OsmAndReport, error) {
	var r OsmAndReport
	r.Token = params["id"]
	if r.Token == "" {
		r.Token = params["deviceid"]
	}
	l := &r.Location
	var err error
	r.NoFix = strings.TrimSpace(params["lat"]) == "" && strings.TrimSpace(params["lon"]) == ""
	if !r.NoFix {
		if l.Lat, err = requiredNumber(params["lat"], prefix+"lat"); err != nil {
			return r, err
		}
		if l.Lon, err = requiredNumber(params["lon"], prefix+"lon"); err != nil {
			return r, err
		}
	}
	if l.RecordedAt, err = parseTimestamp(params["timestamp"], p.now, prefix+"timestamp"); err != nil {
		return r, err
	}
	if l.SpeedMPS, err = optionalNumber(params["speed"], prefix+"speed"); err != nil {
		return r, err
	}
	if l.SpeedMPS != nil {
		l.SpeedMPS = ptr(*l.SpeedMPS * p.speedFactor)
	}
	course := "bearing" // OsmAnd's name; Traccar Client says heading
	if strings.TrimSpace(params[course]) == "" {
		course = "heading"
	}
	for _, f := range []numberParam{{course, &l.CourseDeg}, {"altitude", &l.AltitudeM}, {"accuracy", &l.AccuracyM}, {"batt", &l.BatteryPct}} {
		if *f.dst, err = optionalNumber(params[f.name], prefix+f.name); err != nil {
			return r, err
		}
	}
	l.BatteryPct = nilIfNegative(l.BatteryPct)
	if l.Attributes, err = flatAttributes(params, prefix); err != nil {
		return r, err
	}
	r.PushToken = params["notificationToken"]
	return r, nil
}

// numberParam is an optional number of a report, by its name in the
// protocol, and where it goes.
type numberParam struct {
	name string
	dst  **float64
}

// nested appends the reports of a Traccar Client JSON-mode object to out.
func (p osmAndParser) nested(out []OsmAndReport, query map[string]string, obj map[string]any, prefix string) ([]OsmAndReport, error) {
	token, err := jsonText(obj, "device_id", prefix+"device_id")
	if err != nil {
		return nil, err
	}
	if token == "" {
		token = query["id"]
	}
	if token == "" {
		token = query["deviceid"]
	}
	switch loc := obj["location"].(type) {
	case map[string]any:
		l, err := p.nestedLocation(loc, prefix+"location.")
		if err != nil {
			return nil, err
		}
		return appendReports(out, OsmAndReport{Token: token, Location: l, NoFix: loc["coords"] == nil})
	case []any:
		if len(loc) == 0 {
			return nil, invalid(prefix+"location", "must hold at least one location")
		}
		for i, e := range loc {
			field := prefix + "location[" + strconv.Itoa(i) + "]"
			m, ok := e.(map[string]any)
			if !ok {
				return nil, invalid(field, "must be an object")
			}
			l, err := p.nestedLocation(m, field+".")
			if err != nil {
				return nil, err
			}
			if out, err = appendReports(out, OsmAndReport{Token: token, Location: l, NoFix: m["coords"] == nil}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, invalid(prefix+"location", "must be an object or an array")
}

// nestedLocation decodes {"timestamp", "coords": {…}, "battery": {…}, …};
// without coords (absent or null) it has no position: a report without a fix.
func (p osmAndParser) nestedLocation(loc map[string]any, prefix string) (Location, error) {
	var l Location
	ts, err := jsonText(loc, "timestamp", prefix+"timestamp")
	if err != nil {
		return l, err
	}
	if l.RecordedAt, err = parseTimestamp(ts, p.now, prefix+"timestamp"); err != nil {
		return l, err
	}

	coords, err := jsonObject(loc, "coords", prefix+"coords")
	if err != nil {
		return l, err
	}
	cp := prefix + "coords."
	lat, err := jsonNumber(coords, "latitude", cp+"latitude")
	if err != nil {
		return l, err
	}
	lon, err := jsonNumber(coords, "longitude", cp+"longitude")
	if err != nil {
		return l, err
	}
	if lat == nil && coords != nil {
		return l, invalid(cp+"latitude", "required")
	}
	if lon == nil && coords != nil {
		return l, invalid(cp+"longitude", "required")
	}
	if coords != nil {
		l.Lat, l.Lon = *lat, *lon
	}
	// The speed is already m/s.
	for _, f := range []numberParam{{"speed", &l.SpeedMPS}, {"heading", &l.CourseDeg}, {"altitude", &l.AltitudeM}, {"accuracy", &l.AccuracyM}} {
		if *f.dst, err = jsonNumber(coords, f.name, cp+f.name); err != nil {
			return l, err
		}
	}

	battery, err := jsonObject(loc, "battery", prefix+"battery")
	if err != nil {
		return l, err
	}
	level, err := jsonNumber(battery, "level", prefix+"battery.level")
	if err != nil {
		return l, err
	}
	if level = nilIfNegative(level); level != nil {
		// Round to 0.01 % so that 0.87 gives 87, not 87.00000000000001.
		l.BatteryPct = ptr(math.Round(*level*100*100) / 100)
	}
	l.Attributes, err = nestedAttributes(loc, battery, prefix)
	return l, err
}

// jsonObject returns obj[key] as an object; absent or null gives nil, which
// reads as an empty object.
func jsonObject(obj map[string]any, key, field string) (map[string]any, error) {
	switch v := obj[key].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	}
	return nil, invalid(field, "must be an object")
}

// jsonText returns obj[key], a string or a number, as text; absent or null
// gives "".
func jsonText(obj map[string]any, key, field string) (string, error) {
	switch v := obj[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", invalid(field, "must be a string or a number")
}

// jsonNumber returns obj[key], a number or a numeric string; absent, null or
// "" gives nil (unknown).
func jsonNumber(obj map[string]any, key, field string) (*float64, error) {
	switch v := obj[key].(type) {
	case nil:
		return nil, nil
	case string:
		return optionalNumber(v, field)
	case json.Number:
		return optionalNumber(v.String(), field)
	}
	return nil, invalid(field, "must be a number")
}

func requiredNumber(s, field string) (float64, error) {
	v, err := optionalNumber(s, field)
	if err != nil {
		return 0, err
	}
	if v == nil {
		return 0, invalid(field, "required")
	}
	return *v, nil
}

// optionalNumber parses a decimal number; "" is unknown (nil). NaN and ±Inf
// parse here and are rejected by Normalize, the one place for range rules.
func optionalNumber(s, field string) (*float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, invalid(field, "malformed number")
	}
	return &f, nil
}

func nilIfNegative(v *float64) *float64 {
	if v != nil && *v < 0 {
		return nil
	}
	return v
}

// parseTimestamp reads Unix seconds or milliseconds (by magnitude, see
// unixMillisThreshold; a fraction allowed), RFC 3339, or "yyyy-MM-dd HH:mm:ss"
// (fraction allowed) taken as UTC. Empty means now.
func parseTimestamp(s string, now time.Time, field string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > -unixMillisThreshold && n < unixMillisThreshold {
			return time.Unix(n, 0), nil
		}
		return time.UnixMilli(n), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && finite(f) {
		switch a := math.Abs(f); {
		case a < unixMillisThreshold:
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(frac*1e9)), nil
		case a < 1e18: // beyond, int64 milliseconds would overflow
			ms, frac := math.Modf(f)
			return time.UnixMilli(int64(ms)).Add(time.Duration(frac * 1e6)), nil
		}
	}
	if strings.ContainsAny(s, "Tt") {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		// An unescaped "+02:00" in a query string arrives as " 02:00".
		if t, err := time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1)); err == nil {
			return t, nil
		}
	} else if t, err := time.Parse(time.DateTime, s); err == nil {
		return t, nil
	}
	return time.Time{}, invalid(field, "must be Unix seconds, Unix milliseconds, RFC 3339 or yyyy-MM-dd HH:mm:ss")
}

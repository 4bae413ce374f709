package tracking

import (
	"bytes"
	"encoding/json"
	"math"
	"time"
)

// OwnTracksMessage is one message of the OwnTracks apps' HTTP mode: the
// JSON the apps would publish over MQTT, one per request.
type OwnTracksMessage struct {
	// Type is the message's "_type": "location", "transition", "waypoint",
	// "status", …; "" for an empty body or an object without one.
	Type string
	// Location is the point of a "location" message, decoded but not
	// validated (Ingest normalizes it); nil for any other type, and when
	// Rejected is set.
	Location *Location
	// Rejected says why a "location" message gave no point (an *errs.FieldError
	// naming the field): the message is still accepted, for the client
	// cannot do better by sending it again.
	Rejected error
}

// kmh is one km/h in m/s.
const kmh = 1000.0 / 3600

// ParseOwnTracks decodes the body of an OwnTracks HTTP request. An empty
// (or blank) body is accepted with Type "": the apps post one when a
// friend is removed. Any JSON object is accepted; only a "location" gives a
// point:
//
//	lat, lon  degrees (required)
//	tst       Unix seconds of the fix, a fraction allowed (required)
//	acc, alt  meters
//	vel       km/h, converted to m/s
//	cog       degrees
//	batt      percent
//	bs        battery status: 0 unknown (null), 1 unplugged (charging false),
//	          2 charging or 3 full (charging true)
//	t         the trigger ("p" ping, "u" manual, "c" region, "t" timer, …),
//	          as the event
//
// Absent or null fields are unknown: the apps leave out zeros. Other
// fields are ignored. A body that is not a JSON object is an *errs.FieldError
// naming "body".
func ParseOwnTracks(body []byte) (OwnTracksMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return OwnTracksMessage{}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return OwnTracksMessage{}, invalid("body", "must be a JSON object")
	}
	var msg OwnTracksMessage
	_ = json.Unmarshal(obj["_type"], &msg.Type) // not a string: no type, ignored like any other
	if msg.Type != "location" {
		return msg, nil
	}
	l, err := ownTracksLocation(obj)
	if err != nil {
		msg.Rejected = err
		return msg, nil
	}
	msg.Location = &l
	return msg, nil
}

func ownTracksLocation(obj map[string]json.RawMessage) (Location, error) {
	var (
		l   Location
		err error
	)
	number := func(key string) *float64 {
		if err != nil {
			return nil
		}
		var v *float64
		if e := json.Unmarshal(orNull(obj[key]), &v); e != nil {
			err = invalid(key, "must be a number")
		}
		return v
	}
	lat, lon, tst := number("lat"), number("lon"), number("tst")
	l.AccuracyM, l.AltitudeM = number("acc"), number("alt")
	vel, cog, batt, bs := number("vel"), number("cog"), number("batt"), number("bs")
	switch {
	case err != nil:
		return l, err
	case lat == nil:
		return l, invalid("lat", "required")
	case lon == nil:
		return l, invalid("lon", "required")
	case tst == nil:
		return l, invalid("tst", "required")
	case !(math.Abs(*tst) < unixMillisThreshold): // NaN fails too; beyond, it is not seconds
		return l, invalid("tst", "must be Unix seconds")
	}
	l.Lat, l.Lon = *lat, *lon
	sec, frac := math.Modf(*tst)
	l.RecordedAt = time.Unix(int64(sec), int64(frac*1e9))
	if vel != nil {
		l.SpeedMPS = ptr(*vel * kmh)
	}
	l.CourseDeg, l.BatteryPct = cog, batt
	if bs != nil {
		switch *bs {
		case 0: // unknown
		case 1:
			l.Charging = ptr(false)
		case 2, 3:
			l.Charging = ptr(true)
		default:
			return l, invalid("bs", "must be 0, 1, 2 or 3")
		}
	}
	if t := obj["t"]; t != nil {
		var event *string
		if json.Unmarshal(t, &event) != nil {
			return l, invalid("t", "must be a string")
		}
		l.Event = event
	}
	return l, nil
}

// orNull is raw, or the JSON null for an absent field.
func orNull(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return json.RawMessage("null")
	}
	return raw
}

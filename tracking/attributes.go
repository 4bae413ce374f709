package tracking

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Attributes are what trackers report beyond the position: Traccar Client's
// motion, odometer, charging, activity, event and alarm (an SOS is
// alarm "sos"), and OwnTracks' battery status and trigger. Nil is unknown
// (JSON null), as for the other fields of a Location. The tags name their
// columns, the same in locations and devices.
type Attributes struct {
	Motion    *bool    `bun:"motion"`     // the device is moving
	OdometerM *float64 `bun:"odometer_m"` // distance the device has counted, meters
	Charging  *bool    `bun:"charging"`   // the battery is charging (or full, on external power)
	Activity  *string  `bun:"activity"`   // the platform's activity guess: "still", "walking", "in_vehicle", …
	Event     *string  `bun:"event"`      // what triggered the report: "motionchange", "heartbeat", OwnTracks' "p", "u", …
	Alarm     *string  `bun:"alarm"`      // an alarm raised with the report: "sos", …
}

// MaxAttributeLen is the most characters of Activity, Event and Alarm.
const MaxAttributeLen = 32

// maxOdometerM bounds OdometerM: 10 million km, beyond any vehicle's life,
// so that a unit mix-up (millimetres, a counter gone wild) is refused
// rather than stored.
const maxOdometerM = 1e10

// normalize applies the rules of the attributes, returning an *errs.FieldError
// for the first one broken: the odometer finite, in [0, 10,000,000 km];
// each text trimmed of surrounding white space, empty meaning unknown
// (Traccar Client 9.x sends "" for "no event"), then at most 32 characters
// of valid UTF-8 without control characters.
func (a Attributes) normalize() (Attributes, error) {
	if a.OdometerM != nil {
		switch v := *a.OdometerM; {
		case !finite(v):
			return a, invalid("odometer_m", "must be a finite number")
		case v < 0 || v > maxOdometerM:
			return a, invalid("odometer_m", "must be between 0 and %.0f", float64(maxOdometerM))
		}
	}
	var err error
	if a.Activity, err = normalizeText("activity", a.Activity); err != nil {
		return a, err
	}
	if a.Event, err = normalizeText("event", a.Event); err != nil {
		return a, err
	}
	if a.Alarm, err = normalizeText("alarm", a.Alarm); err != nil {
		return a, err
	}
	return a, nil
}

func normalizeText(field string, v *string) (*string, error) {
	if v == nil {
		return nil, nil
	}
	s := strings.TrimSpace(*v)
	switch {
	case s == "":
		return nil, nil
	case !utf8.ValidString(s):
		return nil, invalid(field, "must be valid UTF-8")
	case utf8.RuneCountInString(s) > MaxAttributeLen:
		return nil, invalid(field, "must be at most %d characters", MaxAttributeLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return nil, invalid(field, "must not contain control characters")
	}
	if s == *v {
		return v, nil
	}
	return &s, nil // a new pointer: the caller's value may be shared
}

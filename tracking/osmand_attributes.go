package tracking

import (
	"strings"
)

// flatAttributes reads the attributes among OsmAnd's flat parameters, as
// Traccar Client 10.x sends them: motion ("true" or "false"; anything else
// is malformed), charge ("true" in any case is true and anything else
// false, as Traccar's decoder reads it), odometer (meters), event and alarm
// (text, checked by Normalize). An empty value is unknown.
func flatAttributes(params map[string]string, prefix string) (Attributes, error) {
	var a Attributes
	switch v := strings.TrimSpace(params["motion"]); {
	case v == "":
	case strings.EqualFold(v, "true"):
		a.Motion = ptr(true)
	case strings.EqualFold(v, "false"):
		a.Motion = ptr(false)
	default:
		return a, invalid(prefix+"motion", "must be true or false")
	}
	if v := strings.TrimSpace(params["charge"]); v != "" {
		a.Charging = ptr(strings.EqualFold(v, "true"))
	}
	var err error
	if a.OdometerM, err = optionalNumber(params["odometer"], prefix+"odometer"); err != nil {
		return a, err
	}
	a.Event = nonEmpty(params["event"])
	a.Alarm = nonEmpty(params["alarm"])
	return a, nil
}

// nestedAttributes reads the attributes of a Traccar Client 9.x location
// (the JSON of transistorsoft's background-geolocation): is_moving,
// odometer (meters), event, battery.is_charging, activity.type, and an
// alarm at alarm or, when that is absent, extras.alarm (where the app's
// SOS action puts "sos"). battery is the location's battery object, nil
// if it has none.
func nestedAttributes(loc, battery map[string]any, prefix string) (Attributes, error) {
	var (
		a   Attributes
		err error
	)
	if a.Motion, err = jsonBool(loc, "is_moving", prefix+"is_moving"); err != nil {
		return a, err
	}
	if a.OdometerM, err = jsonNumber(loc, "odometer", prefix+"odometer"); err != nil {
		return a, err
	}
	if a.Event, err = jsonString(loc, "event", prefix+"event"); err != nil {
		return a, err
	}
	if a.Charging, err = jsonBool(battery, "is_charging", prefix+"battery.is_charging"); err != nil {
		return a, err
	}
	switch activity := loc["activity"].(type) {
	case nil:
	case string:
		a.Activity = &activity
	case map[string]any:
		if a.Activity, err = jsonString(activity, "type", prefix+"activity.type"); err != nil {
			return a, err
		}
	default:
		return a, invalid(prefix+"activity", "must be an object")
	}
	if a.Alarm, err = jsonString(loc, "alarm", prefix+"alarm"); err != nil || a.Alarm != nil {
		return a, err
	}
	extras, err := jsonObject(loc, "extras", prefix+"extras")
	if err != nil {
		return a, err
	}
	a.Alarm, err = jsonString(extras, "alarm", prefix+"extras.alarm")
	return a, err
}

// jsonBool returns obj[key], true or false (or a string of either); absent
// or null gives nil.
func jsonBool(obj map[string]any, key, field string) (*bool, error) {
	switch v := obj[key].(type) {
	case nil:
		return nil, nil
	case bool:
		return &v, nil
	case string:
		switch {
		case strings.EqualFold(v, "true"):
			return ptr(true), nil
		case strings.EqualFold(v, "false"):
			return ptr(false), nil
		}
	}
	return nil, invalid(field, "must be true or false")
}

// jsonString returns obj[key], a string; absent or null gives nil.
func jsonString(obj map[string]any, key, field string) (*string, error) {
	switch v := obj[key].(type) {
	case nil:
		return nil, nil
	case string:
		return &v, nil
	}
	return nil, invalid(field, "must be a string")
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

package httpapi

import (
	"encoding/json"
	"strconv"
)

// appendAttributes appends the attributes of l (motion … alarm) and the
// closing brace of a route point, as json.Marshal writes them.
func appendAttributes(b []byte, l *locationJSON) ([]byte, bool) {
	b = append(b, `,"motion":`...)
	b = appendJSONBool(b, l.Motion)
	b = append(b, `,"odometer_m":`...)
	if l.OdometerM == nil {
		b = append(b, "null"...)
	} else {
		var ok bool
		if b, ok = appendJSONFloat(b, *l.OdometerM); !ok {
			return b, false
		}
	}
	b = append(b, `,"charging":`...)
	b = appendJSONBool(b, l.Charging)
	b = append(b, `,"activity":`...)
	b = appendJSONString(b, l.Activity)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, l.Event)
	b = append(b, `,"alarm":`...)
	b = appendJSONString(b, l.Alarm)
	return append(b, '}'), true
}

func appendJSONBool(b []byte, v *bool) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendBool(b, *v)
}

// appendJSONString writes a string as encoding/json does: printable ASCII
// other than its escaped characters (", \, and the HTML-sensitive <, >, &)
// as is, anything else through json.Marshal, which these short, rare
// attribute values can afford.
func appendJSONString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	for i := 0; i < len(*s); i++ {
		if c := (*s)[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(*s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, *s...)
	return append(b, '"')
}

package httpapi

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/usersync/usersync/errs"
)

// text is a JSON string field that remembers what encoding/json forgets:
// whether it was present, whether it was null, and whether its raw bytes
// were valid UTF-8 (json silently turns invalid bytes and lone surrogate
// escapes into U+FFFD).
type text struct {
	Set       bool
	Null      bool
	Value     string
	wrongType bool
	badUTF8   bool
}

func (t *text) UnmarshalJSON(raw []byte) error {
	*t = text{Set: true}
	if string(raw) == "null" {
		t.Null = true
		return nil
	}
	if err := json.Unmarshal(raw, &t.Value); err != nil {
		t.wrongType = true
		return nil
	}
	t.badUTF8 = !utf8.Valid(raw) || hasLoneSurrogate(raw)
	return nil
}

// hasLoneSurrogate tells whether a JSON string literal, already known to
// be well formed, escapes a UTF-16 surrogate that is not half of a pair.
// The escapes themselves are read: a U+FFFD sent on purpose elsewhere in
// the string must not hide one.
func hasLoneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character: a backslash escapes only the next one
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1:])
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r >= 0xDC00 || i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
			return true // a low half first, or a high half not followed by an escape
		}
		if low := hex4(raw[i+3:]); low < 0xDC00 || low > 0xDFFF {
			return true
		}
		i += 6
	}
	return false
}

// hex4 reads the four hex digits of a \u escape; -1 if they are not.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// check validates a present, non-null field: a string of valid UTF-8
// without control characters (Unicode Cc, tab included), at most max
// characters long.
func (t *text) check(field string, max int) error {
	if err := t.wellFormed(field); err != nil {
		return err
	}
	switch {
	case strings.IndexFunc(t.Value, unicode.IsControl) >= 0:
		return errs.New(errs.Invalid, "%s must not contain control characters", field)
	case utf8.RuneCountInString(t.Value) > max:
		return errs.New(errs.Invalid, "%s must be at most %d characters", field, max)
	}
	return nil
}

// wellFormed checks what decoding hides of a present, non-null field: that
// it was a string, of valid UTF-8.
func (t *text) wellFormed(field string) error {
	switch {
	case t.wrongType:
		return errs.New(errs.Invalid, "%s must be a string", field)
	case t.badUTF8:
		return errs.New(errs.Invalid, "%s is not valid UTF-8", field)
	}
	return nil
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
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
	t.badUTF8 = !utf8.Valid(raw) ||
		(strings.ContainsRune(t.Value, utf8.RuneError) && !mentionsReplacementChar(raw))
	return nil
}

// mentionsReplacementChar tells whether U+FFFD was sent on purpose,
// literally or escaped, rather than produced by decoding broken input.
func mentionsReplacementChar(raw []byte) bool {
	return bytes.Contains(raw, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
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
		return fmt.Errorf("%s must not contain control characters", field)
	case utf8.RuneCountInString(t.Value) > max:
		return fmt.Errorf("%s must be at most %d characters", field, max)
	}
	return nil
}

// wellFormed checks what decoding hides of a present, non-null field: that
// it was a string, of valid UTF-8.
func (t *text) wellFormed(field string) error {
	switch {
	case t.wrongType:
		return fmt.Errorf("%s must be a string", field)
	case t.badUTF8:
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	return nil
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSyncBody: no body panics the decoder or the validator, and a body
// they accept holds only what the sync rules allow into the database.
func FuzzSyncBody(f *testing.F) {
	for _, seed := range []string{
		`{"clerk_user_id":"user_1","email":"a@example.com","name":"Ann"}`,
		`{"clerk_user_id":"user_1","email":" a@example.com ","name":null}`,
		`{"clerk_user_id":"user_1","email":"a@example.com"}`,
		`{"clerk_user_id":"user_1","email":"John <j@x.com>"}`,
		`{"clerk_user_id":"user_1","email":"a@example.com","name":"\ud800"}`,
		`{"clerk_user_id":"user_1","email":"a@example.com","name":"a\tb"}`,
		`{"clerk_user_id":1,"email":["a"]}`,
		`{"clerk_user_id":"user_1","email":"a@example.com","name":"\ufffd"}`,
		"{\"clerk_user_id\":\"user_1\",\"email\":\"a@example.com\",\"name\":\"\xff\"}",
		`{"Clerk_user_id":"user_1","emAil":"a@example.com"}`, // keys match case-insensitively
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req syncRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		if req.validate() != nil {
			return
		}
		// What was accepted is checked against the raw body, with oracles
		// independent of the code under test: encoding/json hides invalid
		// UTF-8 and lone surrogates behind U+FFFD, so the decoded values
		// alone could not tell.
		raw := rawFields(t, body)
		for _, f := range []struct {
			name string
			t    *text
		}{{"clerk_user_id", &req.ClerkUserID}, {"email", &req.Email}, {"name", &req.Name}} {
			if !f.t.Set || f.t.Null {
				continue
			}
			lit := raw[f.name]
			if !utf8.Valid(lit) {
				t.Fatalf("accepted %s with invalid UTF-8: %q", f.name, lit)
			}
			// strconv.Unquote agrees with JSON on every escape but \/ and
			// surrogates, which Go refuses even in pairs. For those, the
			// decoded value is checked instead: encoding/json turns a lone
			// surrogate into U+FFFD, so one may appear only if sent.
			value, err := strconv.Unquote(strings.ReplaceAll(string(lit), `\/`, "/"))
			surrogate := strings.Contains(strings.ToLower(string(lit)), `\ud`)
			switch {
			case err != nil && !surrogate:
				t.Fatalf("accepted %s %q that is not a string literal: %v", f.name, lit, err)
			case err != nil:
				value = f.t.Value
				sentFFFD := strings.Contains(strings.ToLower(string(lit)), `\ufffd`) || strings.ContainsRune(string(lit), utf8.RuneError)
				if strings.ContainsRune(value, utf8.RuneError) && !sentFFFD {
					t.Fatalf("accepted %s %q with a lone surrogate", f.name, lit)
				}
			}
			if f.name == "email" {
				value = strings.Trim(value, " ")
			}
			if f.name != "email" && value != f.t.Value {
				t.Fatalf("%s decoded as %q, the literal %q says %q", f.name, f.t.Value, lit, value)
			}
			if utf8.RuneCountInString(value) > maxFieldLen {
				t.Fatalf("accepted %s of %d characters", f.name, utf8.RuneCountInString(value))
			}
			for _, r := range value {
				if r < 0x20 || r >= 0x7f && r < 0xa0 {
					t.Fatalf("accepted %s with the control character %U", f.name, r)
				}
			}
		}
		// A bare address: one local part and one domain, no display name.
		email := req.Email.Value
		at := strings.LastIndexByte(email, '@')
		if at <= 0 || at == len(email)-1 || strings.ContainsAny(email[at+1:], " <>\t") ||
			strings.HasSuffix(email, ">") || email != strings.Trim(email, " ") {
			t.Fatalf("accepted email %q", email)
		}
	})
}

// rawFields returns the raw value of each top-level key of a JSON object,
// keyed as encoding/json matches struct fields: case-insensitively, the
// last of equal keys winning.
func rawFields(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("accepted a body that is not an object: %q", body)
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatalf("accepted a malformed object %q: %v", body, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted a malformed object %q: %v", body, err)
		}
		for _, name := range []string{"clerk_user_id", "email", "name"} {
			if strings.EqualFold(key.(string), name) {
				out[name] = v
			}
		}
	}
	return out
}

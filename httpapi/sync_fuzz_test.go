package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSyncBody: no body panics the decoder or the validator, and a body
// they accept holds only what the contract allows into the database.
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
		email := req.Email.Value
		if email == "" || !validEmail(email) || strings.TrimSpace(email) != email {
			t.Fatalf("accepted email %q", email)
		}
		for _, f := range []*text{&req.ClerkUserID, &req.Email, &req.Name} {
			if !f.Set || f.Null {
				continue
			}
			v := f.Value
			if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 || utf8.RuneCountInString(v) > maxFieldLen {
				t.Fatalf("accepted field %q", v)
			}
		}
	})
}

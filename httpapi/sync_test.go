package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/usersync/usersync/testkit"
)

const msgMissing = "Missing required fields: clerk_user_id and email are required"

// ignoreServerFields leaves out what the server chooses: the id and the write times.
var ignoreServerFields = cmpopts.IgnoreFields(apiUser{}, "ID", "CreatedAt", "UpdatedAt")

// syncBody is a request body; an empty name is left out, "null" is sent as null.
func syncBody(clerkUserID, email, name string) string {
	b := fmt.Sprintf(`{"clerk_user_id":%q,"email":%q`, clerkUserID, email)
	switch name {
	case "":
	case "null":
		b += `,"name":null`
	default:
		b += fmt.Sprintf(`,"name":%q`, name)
	}
	return b + "}"
}

// wantStored checks that the database holds what the API returned, at
// the version of the token's iat.
func (s *testServer) wantStored(t *testing.T, u apiUser, iat time.Time) {
	t.Helper()
	got, err := s.users.Get(t.Context(), u.ClerkUserID)
	if err != nil {
		t.Fatalf("Get(%s): %v", u.ClerkUserID, err)
	}
	// JSON times are to the millisecond (package jsontime).
	stored := apiUser{
		ID: got.ID, ClerkUserID: got.ClerkUserID, Email: got.Email, Name: got.Name,
		CreatedAt: got.CreatedAt.Truncate(time.Millisecond), UpdatedAt: got.UpdatedAt.Truncate(time.Millisecond),
	}
	if diff := cmp.Diff(u, stored, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("stored user differs from the response (-response +stored):\n%s", diff)
	}
	if got, want := got.Version, iat.Truncate(time.Second).UnixMilli(); got != want {
		t.Errorf("stored version = %d, want the token's iat %d", got, want)
	}
}

func TestSyncWrites(t *testing.T) {
	t.Parallel()
	eachKeyedServer(t, func(t *testing.T, srv *testServer, key *testkit.Key) {
		now := time.Now()
		// tokenAt is a valid token for sub issued at iat.
		tokenAt := func(t *testing.T, sub string, iat time.Time) string {
			return key.Sign(t, testkit.SessionClaims(sub).With("iat", iat))
		}

		t.Run("created", func(t *testing.T) {
			t.Parallel()
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_created", now),
				syncBody("user_created", "ann@example.com", "Ann Lee")))
			want := apiUser{ClerkUserID: "user_created", Email: ptrTo("ann@example.com"), Name: ptrTo("Ann Lee")}
			if diff := cmp.Diff(want, got, ignoreServerFields); diff != "" {
				t.Errorf("user mismatch (-want +got):\n%s", diff)
			}
			if !got.CreatedAt.Equal(got.UpdatedAt) {
				t.Errorf("created_at %v != updated_at %v on a new user", got.CreatedAt, got.UpdatedAt)
			}
			srv.wantStored(t, got, now)
		})

		t.Run("created without name", func(t *testing.T) {
			t.Parallel()
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_noname", now),
				syncBody("user_noname", "nn@example.com", "")))
			if got.Name != nil {
				t.Errorf("name = %q, want null", *got.Name)
			}
		})

		t.Run("updated", func(t *testing.T) {
			t.Parallel()
			iat := now.Add(-30 * time.Second)
			first := wantUser(t, srv.sync(t, tokenAt(t, "user_updated", iat),
				syncBody("user_updated", "bo@example.com", "Bo")))
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_updated", iat.Add(10*time.Second)),
				syncBody("user_updated", "bo2@example.com", "Bo Two")))
			want := first
			want.Email, want.Name = ptrTo("bo2@example.com"), ptrTo("Bo Two")
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(apiUser{}, "UpdatedAt")); diff != "" {
				t.Errorf("updated user mismatch (-want +got):\n%s", diff)
			}
			if !got.UpdatedAt.After(first.UpdatedAt) {
				t.Errorf("updated_at = %v, want after %v", got.UpdatedAt, first.UpdatedAt)
			}
			srv.wantStored(t, got, iat.Add(10*time.Second))
		})

		t.Run("unchanged", func(t *testing.T) {
			t.Parallel()
			iat := now.Add(-30 * time.Second)
			body := syncBody("user_same", "cy@example.com", "Cy")
			first := wantUser(t, srv.sync(t, tokenAt(t, "user_same", iat), body))
			// The same token again, then a newer one: the data is the same.
			again := wantUser(t, srv.sync(t, tokenAt(t, "user_same", iat), body))
			newer := wantUser(t, srv.sync(t, tokenAt(t, "user_same", iat.Add(10*time.Second)), body))
			for _, got := range []apiUser{again, newer} {
				if diff := cmp.Diff(first, got); diff != "" {
					t.Errorf("unchanged write moved the user (-first +got):\n%s", diff)
				}
			}
			srv.wantStored(t, newer, iat.Add(10*time.Second))
		})

		t.Run("stale", func(t *testing.T) {
			t.Parallel()
			iat := now.Add(-10 * time.Second)
			stored := wantUser(t, srv.sync(t, tokenAt(t, "user_stale", iat),
				syncBody("user_stale", "new@example.com", "New")))
			// A token issued before the stored version: its data is older.
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_stale", iat.Add(-time.Minute)),
				syncBody("user_stale", "old@example.com", "Old")))
			if diff := cmp.Diff(stored, got); diff != "" {
				t.Errorf("a stale sync did not answer the stored row (-stored +got):\n%s", diff)
			}
			srv.wantStored(t, stored, iat)
		})

		t.Run("name omitted keeps the stored name", func(t *testing.T) {
			t.Parallel()
			iat := now.Add(-30 * time.Second)
			wantUser(t, srv.sync(t, tokenAt(t, "user_keep", iat), syncBody("user_keep", "di@example.com", "Di")))
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_keep", iat.Add(time.Second)),
				syncBody("user_keep", "di2@example.com", "")))
			want := apiUser{ClerkUserID: "user_keep", Email: ptrTo("di2@example.com"), Name: ptrTo("Di")}
			if diff := cmp.Diff(want, got, ignoreServerFields); diff != "" {
				t.Errorf("user mismatch (-want +got):\n%s", diff)
			}
		})

		for _, name := range []string{"null", `""`, `"   "`} {
			t.Run("name "+name+" clears the stored name", func(t *testing.T) {
				t.Parallel()
				id := "user_clear_" + strings.Trim(strings.ReplaceAll(name, " ", "_"), `"`)
				iat := now.Add(-30 * time.Second)
				first := wantUser(t, srv.sync(t, tokenAt(t, id, iat), syncBody(id, "ed@example.com", "Ed")))
				got := wantUser(t, srv.sync(t, tokenAt(t, id, iat.Add(time.Second)),
					fmt.Sprintf(`{"clerk_user_id":%q,"email":"ed@example.com","name":%s}`, id, name)))
				if got.Name != nil {
					t.Errorf("name = %q, want null", *got.Name)
				}
				if !got.UpdatedAt.After(first.UpdatedAt) {
					t.Errorf("updated_at = %v, want after %v: the name changed", got.UpdatedAt, first.UpdatedAt)
				}
			})
		}

		t.Run("email is trimmed and stored as given", func(t *testing.T) {
			t.Parallel()
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_trim", now),
				syncBody("user_trim", "  Fay.Ng+app@Example.COM  ", "Fay")))
			if got, want := *got.Email, "Fay.Ng+app@Example.COM"; got != want {
				t.Errorf("email = %q, want %q", got, want)
			}
		})

		t.Run("email claim equal case-insensitively", func(t *testing.T) {
			t.Parallel()
			tok := key.Sign(t, testkit.SessionClaims("user_claim").With("email", "Gus@Example.com"))
			got := wantUser(t, srv.sync(t, tok, syncBody("user_claim", "gus@EXAMPLE.com", "Gus")))
			if got, want := *got.Email, "gus@EXAMPLE.com"; got != want {
				t.Errorf("email = %q, want %q (the body's, as given)", got, want)
			}
		})

		t.Run("unknown fields are ignored", func(t *testing.T) {
			t.Parallel()
			body := `{"id":999999,"created_at":"2000-01-01T00:00:00Z","extra":{"a":[1,2]},` +
				`"clerk_user_id":"user_extra","email":"hy@example.com","name":"Hy"}`
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_extra", now), body))
			if got.ID == 999999 {
				t.Error("the body chose the id")
			}
		})

		t.Run("fields of 255 characters", func(t *testing.T) {
			t.Parallel()
			id := "user_" + strings.Repeat("x", 250)
			email := strings.Repeat("e", 255-len("@example.com")) + "@example.com"
			name := strings.Repeat("é", 255) // characters, not bytes
			got := wantUser(t, srv.sync(t, tokenAt(t, id, now), syncBody(id, email, name)))
			want := apiUser{ClerkUserID: id, Email: &email, Name: &name}
			if diff := cmp.Diff(want, got, ignoreServerFields); diff != "" {
				t.Errorf("user mismatch (-want +got):\n%s", diff)
			}
		})

		t.Run("non-ASCII text", func(t *testing.T) {
			t.Parallel()
			// An escaped surrogate pair, an intended U+FFFD (escaped and
			// literal) and the text \ud800 (an escaped backslash) are valid.
			body := `{"clerk_user_id":"user_utf8","email":"zoë@exämple.com",` +
				`"name":"Zoë \ud83d\ude00 \ufffd ` + "\uFFFD" + ` \\ud800 \u674e"}`
			got := wantUser(t, srv.sync(t, tokenAt(t, "user_utf8", now), body))
			if got, want := *got.Name, "Zoë 😀 \uFFFD \uFFFD \\ud800 李"; got != want {
				t.Errorf("name = %q, want %q", got, want)
			}
		})

		t.Run("body of exactly 64 KiB", func(t *testing.T) {
			t.Parallel()
			body := syncBody("user_big", "big@example.com", "Big")
			body = body[:len(body)-1] + `,"pad":"`
			body += strings.Repeat("p", 64<<10-len(body)-2) + `"}`
			if len(body) != 64<<10 {
				t.Fatalf("body is %d bytes", len(body))
			}
			wantUser(t, srv.sync(t, tokenAt(t, "user_big", now), body))
		})

		t.Run("deleted user", func(t *testing.T) {
			t.Parallel()
			iat := now.Add(-30 * time.Second)
			wantUser(t, srv.sync(t, tokenAt(t, "user_gone", iat), syncBody("user_gone", "gone@example.com", "Gone")))
			if _, err := srv.users.Delete(t.Context(), "user_gone", iat.Add(time.Second)); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			wantError(t, srv.sync(t, tokenAt(t, "user_gone", now), syncBody("user_gone", "back@example.com", "Back")),
				http.StatusGone, "user has been deleted")
			srv.wantDeleted(t, "user_gone") // the sync did not resurrect the user
		})

		t.Run("deleted before ever synced", func(t *testing.T) {
			t.Parallel()
			if _, err := srv.users.Delete(t.Context(), "user_gone_early", now.Add(-time.Hour)); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			wantError(t, srv.sync(t, tokenAt(t, "user_gone_early", now), syncBody("user_gone_early", "a@example.com", "")),
				http.StatusGone, "user has been deleted")
		})
	})
}

// bodyWith is a valid body for user_body with one field's raw JSON
// value replaced; an empty value leaves the field out.
func bodyWith(field, value string) string {
	fields := []struct{ name, value string }{
		{"clerk_user_id", `"user_body"`},
		{"email", `"body@example.com"`},
		{"name", `"Body"`},
	}
	var parts []string
	for _, f := range fields {
		if f.name == field {
			f.value = value
		}
		if f.value != "" {
			parts = append(parts, fmt.Sprintf("%q:%s", f.name, f.value))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestSyncRejectsBodies(t *testing.T) {
	t.Parallel()
	type badBody struct {
		name string
		body string
		msg  string
	}
	tests := []badBody{
		{"empty object", `{}`, msgMissing},
		{"clerk_user_id missing", bodyWith("clerk_user_id", ""), msgMissing},
		{"clerk_user_id empty", bodyWith("clerk_user_id", `""`), msgMissing},
		{"clerk_user_id null", bodyWith("clerk_user_id", `null`), msgMissing},
		{"email missing", bodyWith("email", ""), msgMissing},
		{"email empty", bodyWith("email", `""`), msgMissing},
		{"email null", bodyWith("email", `null`), msgMissing},
		{"email whitespace", bodyWith("email", `"   "`), msgMissing},
		// Tab and newline are control characters, refused rather than trimmed.
		{"email whitespace escapes", bodyWith("email", `" \t\n "`), "email must not contain control characters"},
		{"email trailing newline", bodyWith("email", `"a@example.com\n"`), "email must not contain control characters"},
		{"both missing", `{"name":"Body"}`, msgMissing},

		{"email not an address", bodyWith("email", `"not-an-email"`), "email is not a valid address"},
		{"email with display name", bodyWith("email", `"John <j@x.com>"`), "email is not a valid address"},
		{"email in angle brackets", bodyWith("email", `"<j@x.com>"`), "email is not a valid address"},
		{"email without local part", bodyWith("email", `"@example.com"`), "email is not a valid address"},
		{"two addresses", bodyWith("email", `"a@x.com, b@x.com"`), "email is not a valid address"},

		{"clerk_user_id over 255", bodyWith("clerk_user_id", `"`+strings.Repeat("u", 256)+`"`),
			"clerk_user_id must be at most 255 characters"},
		{"email over 255", bodyWith("email", `"`+strings.Repeat("e", 256-len("@example.com"))+`@example.com"`),
			"email must be at most 255 characters"},
		{"name over 255", bodyWith("name", `"`+strings.Repeat("é", 256)+`"`), "name must be at most 255 characters"},

		{"clerk_user_id a number", bodyWith("clerk_user_id", `123`), "clerk_user_id must be a string"},
		{"email a boolean", bodyWith("email", `true`), "email must be a string"},
		{"name an object", bodyWith("name", `{"first":"Bo"}`), "name must be a string"},
		{"name an array", bodyWith("name", `["Bo"]`), "name must be a string"},
		{"name a number", bodyWith("name", `5`), "name must be a string"},

		{"malformed JSON", `{"clerk_user_id":"user_body",`, "request body is not valid JSON"},
		{"empty body", ``, "request body is not valid JSON"},
		{"not an object", `["user_body","body@example.com"]`, "request body is not valid JSON"},
		{"trailing data", bodyWith("", "") + ` {}`, "request body is not valid JSON"},
		{"raw tab inside a string", bodyWith("name", "\"Bo\tdy\""), "request body is not valid JSON"},
	}
	// Each field with each kind of bad text: control characters (tab
	// included), raw invalid UTF-8, and a lone surrogate escape (which
	// encoding/json would silently turn into U+FFFD).
	templates := []struct{ field, format string }{
		{"clerk_user_id", `"user_%sbody"`},
		{"email", `"bo%sdy@example.com"`},
		{"name", `"Bo%sdy"`},
	}
	for _, tpl := range templates {
		for _, c := range []struct{ name, text, msg string }{
			{"tab", `\t`, "must not contain control characters"},
			{"NUL", `\u0000`, "must not contain control characters"},
			{"DEL", `\u007f`, "must not contain control characters"},
			{"C1 NEL", `\u0085`, "must not contain control characters"},
			{"newline", `\n`, "must not contain control characters"},
			{"raw invalid UTF-8", "\xff", "is not valid UTF-8"},
			{"raw truncated UTF-8", "\xc3", "is not valid UTF-8"},
			{"lone surrogate", `\ud800`, "is not valid UTF-8"},
			{"lone low surrogate", `\udc00`, "is not valid UTF-8"},
			{"lone surrogate beside U+FFFD", `\ufffd\ud800`, "is not valid UTF-8"},
			{"lone surrogate beside a U+FFFD character", "\uFFFD" + `\udc00`, "is not valid UTF-8"},
			{"lone surrogate beside the text \\ufffd", `\\ufffd\ud800`, "is not valid UTF-8"},
			{"high surrogate then a letter escape", `\ud800\u0041`, "is not valid UTF-8"},
			{"high surrogate twice", `\ud800\ud800`, "is not valid UTF-8"},
			{"pair in the wrong order", `\ude00\ud83d`, "is not valid UTF-8"},
		} {
			tests = append(tests, badBody{
				name: tpl.field + " " + c.name,
				body: bodyWith(tpl.field, fmt.Sprintf(tpl.format, c.text)),
				msg:  tpl.field + " " + c.msg,
			})
		}
	}

	eachKeyedServer(t, func(t *testing.T, srv *testServer, key *testkit.Key) {
		t.Run("400", func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_body")), tt.body)
					wantError(t, res, http.StatusBadRequest, tt.msg)
				})
			}
		})
		t.Run("413", func(t *testing.T) {
			body := bodyWith("", "")
			body = body[:len(body)-1] + `,"pad":"` + strings.Repeat("p", 64<<10) + `"}`
			res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_body")), body)
			wantError(t, res, http.StatusRequestEntityTooLarge, "request body is larger than 65536 bytes")
		})
		t.Run("413 by one byte", func(t *testing.T) {
			body := bodyWith("", "")
			body = body[:len(body)-1] + `,"pad":"`
			body += strings.Repeat("p", 64<<10+1-len(body)-2) + `"}`
			res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_body")), body)
			wantError(t, res, http.StatusRequestEntityTooLarge, "request body is larger than 65536 bytes")
		})
		srv.wantNoUser(t, "user_body")
	})
}

func TestSyncForbidden(t *testing.T) {
	t.Parallel()
	eachKeyedServer(t, func(t *testing.T, srv *testServer, key *testkit.Key) {

		t.Run("sub is not clerk_user_id", func(t *testing.T) {
			t.Parallel()
			res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_mallory")), syncBody("user_new_victim", "v@example.com", "V"))
			wantError(t, res, http.StatusForbidden, "clerk_user_id does not match the session token")
			srv.wantNoUser(t, "user_new_victim")
			srv.wantNoUser(t, "user_mallory")
		})

		t.Run("sub is not the stored user's", func(t *testing.T) {
			t.Parallel()
			before := wantUser(t, srv.sync(t, key.Sign(t, testkit.SessionClaims("user_victim")),
				syncBody("user_victim", "victim@example.com", "Victim")))
			res := srv.sync(t, key.Sign(t, testkit.SessionClaims("user_attacker")),
				syncBody("user_victim", "attacker@example.com", "Pwned"))
			wantError(t, res, http.StatusForbidden, "clerk_user_id does not match the session token")
			after, err := srv.users.Get(t.Context(), "user_victim")
			if err != nil {
				t.Fatal(err)
			}
			if *after.Email != *before.Email || *after.Name != *before.Name {
				t.Errorf("a forbidden sync changed the user: %q %q", *after.Email, *after.Name)
			}
		})

		t.Run("email claim differs", func(t *testing.T) {
			t.Parallel()
			tok := key.Sign(t, testkit.SessionClaims("user_email").With("email", "real@example.com"))
			res := srv.sync(t, tok, syncBody("user_email", "other@example.com", "E"))
			wantError(t, res, http.StatusForbidden, "email does not match the session token")
			srv.wantNoUser(t, "user_email")
		})
	})
}

// TestSyncCheckOrder: authentication (401), then the body (400/413),
// then authorization (403), then state (410).
func TestSyncCheckOrder(t *testing.T) {
	t.Parallel()
	other := testkit.NewKey(t, "ins_test")
	eachKeyedServer(t, func(t *testing.T, srv *testServer, key *testkit.Key) {
		if _, err := srv.users.Delete(t.Context(), "user_deleted", time.Now().Add(-time.Hour)); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		huge := `{"clerk_user_id":"user_b","email":"b@example.com","pad":"` + strings.Repeat("p", 64<<10) + `"}`

		tests := []struct {
			name   string
			token  string
			body   string
			status int
			msg    string
		}{
			{"no token and a malformed body", "", `{"clerk_user_id":`, http.StatusUnauthorized, "missing bearer token"},
			{"bad token and a malformed body", other.Sign(t, testkit.SessionClaims("user_a")), `{"clerk_user_id":`,
				http.StatusUnauthorized, "invalid or expired session token"},
			{"bad token and a body over the limit", other.Sign(t, testkit.SessionClaims("user_a")), huge,
				http.StatusUnauthorized, "invalid or expired session token"},
			{"bad token, missing fields, another user", other.Sign(t, testkit.SessionClaims("user_a")), `{"clerk_user_id":"user_b"}`,
				http.StatusUnauthorized, "invalid or expired session token"},
			{"bad token on a deleted user", other.Sign(t, testkit.SessionClaims("user_deleted")),
				syncBody("user_deleted", "d@example.com", ""), http.StatusUnauthorized, "invalid or expired session token"},
			{"good token, invalid email, another user", key.Sign(t, testkit.SessionClaims("user_a")),
				syncBody("user_b", "not-an-email", ""), http.StatusBadRequest, "email is not a valid address"},
			{"good token, missing email, another user", key.Sign(t, testkit.SessionClaims("user_a")),
				`{"clerk_user_id":"user_b"}`, http.StatusBadRequest, msgMissing},
			{"good token, malformed body", key.Sign(t, testkit.SessionClaims("user_a")),
				`{"clerk_user_id":`, http.StatusBadRequest, "request body is not valid JSON"},
			{"good token, body over the limit, another user", key.Sign(t, testkit.SessionClaims("user_a")), huge,
				http.StatusRequestEntityTooLarge, "request body is larger than 65536 bytes"},
			{"good token, bad body, deleted user", key.Sign(t, testkit.SessionClaims("user_deleted")),
				syncBody("user_deleted", "not-an-email", ""), http.StatusBadRequest, "email is not a valid address"},
			{"another sub on a deleted user", key.Sign(t, testkit.SessionClaims("user_a")),
				syncBody("user_deleted", "d@example.com", ""), http.StatusForbidden, "clerk_user_id does not match the session token"},
			{"email claim differs on a deleted user",
				key.Sign(t, testkit.SessionClaims("user_deleted").With("email", "x@example.com")),
				syncBody("user_deleted", "d@example.com", ""), http.StatusForbidden, "email does not match the session token"},
			{"the deleted user itself", key.Sign(t, testkit.SessionClaims("user_deleted")),
				syncBody("user_deleted", "d@example.com", ""), http.StatusGone, "user has been deleted"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				wantError(t, srv.sync(t, tt.token, tt.body), tt.status, tt.msg)
			})
		}
	})
}

func TestSyncDatabaseFailure(t *testing.T) {
	t.Parallel()
	eachKeyedServer(t, func(t *testing.T, srv *testServer, key *testkit.Key) {
		if err := srv.db.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		tok := key.Sign(t, testkit.SessionClaims("user_db"))
		res := srv.sync(t, tok, syncBody("user_db", "db@example.com", "Db"))
		wantError(t, res, http.StatusInternalServerError, "Database error occurred")
		if strings.Contains(string(res.body), "sql") {
			t.Errorf("the 500 body leaks the cause: %s", res.body)
		}
		logs := srv.logs.String()
		if !strings.Contains(logs, `"msg":"request failed"`) {
			t.Errorf("the unexpected error was not logged:\n%s", logs)
		}
		if strings.Contains(logs, tok) {
			t.Error("the log holds the session token")
		}
	})
}

func TestSyncNotConfigured(t *testing.T) {
	t.Parallel()
	key := testkit.NewKey(t, "ins_test")
	srv := startServer(t, sqliteDB(t), nil) // neither CLERK_JWT_KEY nor CLERK_SECRET_KEY
	for _, tok := range []string{"", key.Sign(t, testkit.SessionClaims("user_503"))} {
		res := srv.sync(t, tok, syncBody("user_503", "a@example.com", ""))
		wantErrorContaining(t, res, http.StatusServiceUnavailable, "is not configured")
	}
	srv.wantNoUser(t, "user_503")
}

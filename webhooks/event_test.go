package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func strPtr(s string) *string { return &s }

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureBodies is every body in testdata, by file name.
func fixtureBodies(t testing.TB) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			bodies[e.Name()] = readFixture(t, e.Name())
		}
	}
	return bodies
}

// TestDecodeEvent: the bodies in testdata, as Clerk sends them, and edge
// cases that decode successfully.
func TestDecodeEvent(t *testing.T) {
	// user1 is the event of a body of user_1 with data.updated_at 5, no
	// address, and name.
	user1 := func(typ string, name *string) Event {
		return Event{Type: typ, ClerkUserID: "user_1", User: &UserData{ClerkUserID: "user_1", Name: name, UpdatedAt: msTime(5)}}
	}
	tests := []struct {
		file string // in testdata, or
		name string // of body
		body string
		want Event
	}{
		{
			// The primary address is the second entry: order must not matter.
			file: "user_created.json",
			want: Event{
				Type:        TypeUserCreated,
				Timestamp:   msTime(1717171200789),
				ClerkUserID: "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey",
				User: &UserData{
					ClerkUserID: "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey",
					Email:       strPtr("marguerite@example.com"),
					Name:        strPtr("Marguerite Duras"),
					UpdatedAt:   msTime(1717171200456),
				},
			},
		},
		{
			file: "user_created_phone_only.json",
			want: Event{
				Type:        TypeUserCreated,
				Timestamp:   msTime(1717180000050),
				ClerkUserID: "user_2hR3aPh0nE0nLyUs3rXyZ9WvQtB",
				User: &UserData{
					ClerkUserID: "user_2hR3aPh0nE0nLyUs3rXyZ9WvQtB",
					Email:       nil,
					Name:        strPtr("Kwame Mensah"),
					UpdatedAt:   msTime(1717180000001),
				},
			},
		},
		{
			file: "user_created_null_names.json",
			want: Event{
				Type:        TypeUserCreated,
				Timestamp:   msTime(1717190000100),
				ClerkUserID: "user_2hS0NoNameUs3rQv6Mj2Hk9Rt4",
				User: &UserData{
					ClerkUserID: "user_2hS0NoNameUs3rQv6Mj2Hk9Rt4",
					Email:       strPtr("no-name@example.net"),
					Name:        nil,
					UpdatedAt:   msTime(1717190000002),
				},
			},
		},
		{
			file: "user_created_first_name_only.json",
			want: Event{
				Type:        TypeUserCreated,
				Timestamp:   msTime(1717200000200),
				ClerkUserID: "user_2hT1Ch3rUsRk7Bd3Yf5Gm1Pw8Q",
				User: &UserData{
					ClerkUserID: "user_2hT1Ch3rUsRk7Bd3Yf5Gm1Pw8Q",
					Email:       strPtr("cher@example.com"),
					Name:        strPtr("Cher"),
					UpdatedAt:   msTime(1717200000003),
				},
			},
		},
		{
			file: "user_updated.json",
			want: Event{
				Type:        TypeUserUpdated,
				Timestamp:   msTime(1717520012400),
				ClerkUserID: "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey",
				User: &UserData{
					ClerkUserID: "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey",
					Email:       strPtr("m.duras@example.org"),
					Name:        strPtr("Marguerite Donnadieu"),
					UpdatedAt:   msTime(1717520012345),
				},
			},
		},
		{
			file: "user_deleted.json",
			want: Event{
				Type:        TypeUserDeleted,
				Timestamp:   msTime(1717600000000),
				ClerkUserID: "user_2hQx7Nf3kVb1ZpQ8sLmTq4Wd0Ey",
			},
		},
		{
			// data.id is a session id, not a user id, so it is not exposed.
			file: "session_created.json",
			want: Event{
				Type:      "session.created",
				Timestamp: msTime(1717600000010),
			},
		},
		{
			// Includes differently-cased duplicates ("Type", "ID",
			// "Updated_At") that must not shadow the real keys.
			file: "user_updated_unknown_fields.json",
			want: Event{
				Type:        TypeUserUpdated,
				Timestamp:   msTime(1717700000005),
				ClerkUserID: "user_2hX4Fu7uR3Us3rRk2Bd9Yf5Gm7",
				User: &UserData{
					ClerkUserID: "user_2hX4Fu7uR3Us3rRk2Bd9Yf5Gm7",
					Email:       strPtr("ines@example.com"),
					Name:        strPtr("Inès de Castro"),
					UpdatedAt:   msTime(1717700000000),
				},
			},
		},
		{
			name: "names trimmed and joined by one space",
			body: `{"type":"user.created","data":{"id":"user_1","first_name":"  Ada ","last_name":" Lovelace  ","updated_at":5}}`,
			want: user1(TypeUserCreated, strPtr("Ada Lovelace")),
		},
		{
			name: "last name only",
			body: `{"type":"user.updated","data":{"id":"user_1","first_name":null,"last_name":"Lovelace","updated_at":5}}`,
			want: user1(TypeUserUpdated, strPtr("Lovelace")),
		},
		{
			name: "blank names are nil",
			body: `{"type":"user.updated","data":{"id":"user_1","first_name":"  ","last_name":"","updated_at":5}}`,
			want: user1(TypeUserUpdated, nil),
		},
		{
			name: "primary email id not in list",
			body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":"idn_gone","email_addresses":[{"id":"idn_other","email_address":"o@example.com"}],"updated_at":5}}`,
			want: user1(TypeUserUpdated, nil),
		},
		{
			name: "primary email id with email_addresses null",
			body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":"idn_1","email_addresses":null,"updated_at":5}}`,
			want: user1(TypeUserUpdated, nil),
		},
		{
			name: "an empty primary address is no address",
			body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":"idn_1","email_addresses":[{"id":"idn_1","email_address":""}],"updated_at":5}}`,
			want: user1(TypeUserUpdated, nil),
		},
		{
			name: "an empty primary id names no entry",
			body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":"","email_addresses":[{"id":"","email_address":"a@example.com"}],"updated_at":5}}`,
			want: user1(TypeUserUpdated, nil),
		},
		{
			name: "email entries without a primary id are not inspected",
			body: `{"type":"user.updated","data":{"id":"user_1","email_addresses":[{"id":"idn_1","email_address":"a@example.com"}],"updated_at":5}}`,
			want: user1(TypeUserUpdated, nil),
		},
		{
			name: "missing envelope timestamp is fine for user.created",
			body: `{"type":"user.created","data":{"id":"user_1","updated_at":1717171200456}}`,
			want: Event{Type: TypeUserCreated, ClerkUserID: "user_1", User: &UserData{
				ClerkUserID: "user_1", UpdatedAt: msTime(1717171200456),
			}},
		},
		{
			name: "other type with empty data",
			body: `{"type":"email.created","data":{},"timestamp":null}`,
			want: Event{Type: "email.created"},
		},
		{
			name: "other type ignores data.id",
			body: `{"type":"organization.created","data":{"id":"org_1"},"timestamp":1}`,
			want: Event{Type: "organization.created", Timestamp: msTime(1)},
		},
		{
			name: "unknown user type passes a string id through",
			body: `{"type":"user.future","data":{"id":"user_9"}}`,
			want: Event{Type: "user.future", ClerkUserID: "user_9"},
		},
		{
			name: "unknown user type keeps its id",
			body: `{"type":"user.future","data":{"id":"user_7","shape":"new"}}`,
			want: Event{Type: "user.future", ClerkUserID: "user_7"},
		},
		{
			name: "whitespace around everything",
			body: " \n\t{ \"type\" : \"user.deleted\" , \"data\" : { \"id\" : \"user_1\" } , \"timestamp\" : 1717600000000 }\r\n",
			want: Event{Type: TypeUserDeleted, ClerkUserID: "user_1", Timestamp: msTime(1717600000000)},
		},
	}
	for _, tt := range tests {
		name, body := tt.name, []byte(tt.body)
		if tt.file != "" {
			name, body = tt.file, readFixture(t, tt.file)
		}
		t.Run(name, func(t *testing.T) {
			got, err := DecodeEvent(body)
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeEvent mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeEventErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr error  // checked with errors.Is
		wantMsg string // substring of the message, if set
	}{
		{name: "empty body", body: ``, wantErr: ErrNotClerkEvent},
		{name: "not JSON", body: `type=user.created`, wantErr: ErrNotClerkEvent},
		{name: "truncated JSON", body: `{"type":"user.created","data":{`, wantErr: ErrNotClerkEvent},
		{name: "trailing garbage", body: `{"type":"x","data":{}} {}`, wantErr: ErrNotClerkEvent},
		{name: "JSON null", body: `null`, wantErr: ErrNotClerkEvent},
		{name: "JSON array", body: `[{"type":"user.created","data":{"id":"user_1"}}]`, wantErr: ErrNotClerkEvent},
		{name: "JSON string", body: `"user.created"`, wantErr: ErrNotClerkEvent},
		{name: "JSON number", body: `42`, wantErr: ErrNotClerkEvent},
		{name: "type missing", body: `{"data":{}}`, wantErr: ErrNotClerkEvent, wantMsg: `"type"`},
		{name: "unknown user type without id", body: `{"type":"user.future","data":{"id":7}}`, wantErr: ErrMissingUserID},
		{name: "type empty", body: `{"type":"","data":{}}`, wantErr: ErrNotClerkEvent, wantMsg: `"type"`},
		{name: "type null", body: `{"type":null,"data":{}}`, wantErr: ErrNotClerkEvent, wantMsg: `"type"`},
		{name: "type number", body: `{"type":42,"data":{}}`, wantErr: ErrNotClerkEvent, wantMsg: `"type"`},
		{name: "type array", body: `{"type":["user.created"],"data":{}}`, wantErr: ErrNotClerkEvent, wantMsg: `"type"`},
		{name: "type object", body: `{"type":{"v":"user.created"},"data":{}}`, wantErr: ErrNotClerkEvent, wantMsg: `"type"`},
		{name: "data missing", body: `{"type":"user.created"}`, wantErr: ErrNotClerkEvent, wantMsg: `"data"`},
		{name: "data null", body: `{"type":"session.created","data":null}`, wantErr: ErrNotClerkEvent, wantMsg: `"data"`},
		{name: "data array", body: `{"type":"user.created","data":[{"id":"user_1"}]}`, wantErr: ErrNotClerkEvent, wantMsg: `"data"`},
		{name: "data string", body: `{"type":"user.created","data":"user_1"}`, wantErr: ErrNotClerkEvent, wantMsg: `"data"`},
		{name: "data number", body: `{"type":"user.created","data":1}`, wantErr: ErrNotClerkEvent, wantMsg: `"data"`},
		{name: "user.created without id", body: `{"type":"user.created","data":{"updated_at":5}}`, wantErr: ErrMissingUserID},
		{name: "user.updated with empty id", body: `{"type":"user.updated","data":{"id":"","updated_at":5}}`, wantErr: ErrMissingUserID},
		{name: "user.updated with null id", body: `{"type":"user.updated","data":{"id":null,"updated_at":5}}`, wantErr: ErrMissingUserID},
		{name: "user.created with numeric id", body: `{"type":"user.created","data":{"id":123,"updated_at":5}}`, wantErr: ErrMissingUserID},
		{name: "user.deleted without id", body: `{"type":"user.deleted","data":{"deleted":true,"object":"user"},"timestamp":5}`, wantErr: ErrMissingUserID},
		{name: "user.deleted with empty id", body: `{"type":"user.deleted","data":{"id":""},"timestamp":5}`, wantErr: ErrMissingUserID},
		{name: "user.deleted without timestamp", body: `{"type":"user.deleted","data":{"id":"user_1"}}`, wantErr: ErrNotClerkEvent, wantMsg: `"timestamp"`},
		{name: "user.deleted with null timestamp", body: `{"type":"user.deleted","data":{"id":"user_1"},"timestamp":null}`, wantErr: ErrNotClerkEvent, wantMsg: `"timestamp"`},
		{name: "user.created without updated_at", body: `{"type":"user.created","data":{"id":"user_1"}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "updated_at zero", body: `{"type":"user.created","data":{"id":"user_1","updated_at":0}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "updated_at negative", body: `{"type":"user.updated","data":{"id":"user_1","updated_at":-5}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "updated_at as string", body: `{"type":"user.updated","data":{"id":"user_1","updated_at":"1717171200456"}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "updated_at fractional", body: `{"type":"user.updated","data":{"id":"user_1","updated_at":1717171200456.5}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "updated_at overflows int64", body: `{"type":"user.updated","data":{"id":"user_1","updated_at":99999999999999999999999}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "updated_at huge exponent", body: `{"type":"user.updated","data":{"id":"user_1","updated_at":1e400}}`, wantErr: ErrNotClerkEvent, wantMsg: `updated_at`},
		{name: "timestamp as string on other type", body: `{"type":"session.created","data":{},"timestamp":"1717600000010"}`, wantErr: ErrNotClerkEvent, wantMsg: `"timestamp"`},
		{name: "first_name number", body: `{"type":"user.updated","data":{"id":"user_1","first_name":7,"updated_at":5}}`, wantErr: ErrNotClerkEvent, wantMsg: `data.first_name`},
		{name: "last_name object", body: `{"type":"user.updated","data":{"id":"user_1","last_name":{},"updated_at":5}}`, wantErr: ErrNotClerkEvent, wantMsg: `data.last_name`},
		{name: "primary id number", body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":1,"updated_at":5}}`, wantErr: ErrNotClerkEvent, wantMsg: `primary_email_address_id`},
		{name: "email_addresses object", body: `{"type":"user.updated","data":{"id":"user_1","email_addresses":{"id":"idn_1"},"updated_at":5}}`, wantErr: ErrNotClerkEvent, wantMsg: `email_addresses`},
		{name: "email entry not an object", body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":"idn_1","email_addresses":["a@example.com"],"updated_at":5}}`, wantErr: ErrNotClerkEvent, wantMsg: `email_addresses[0]`},
		{name: "primary email_address number", body: `{"type":"user.updated","data":{"id":"user_1","primary_email_address_id":"idn_1","email_addresses":[{"id":"idn_1","email_address":5}],"updated_at":5}}`, wantErr: ErrNotClerkEvent, wantMsg: `email_addresses[0].email_address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEvent([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DecodeEvent error = %v, want %v", err, tt.wantErr)
			}
			// Every decoding error maps to the same HTTP status.
			if !errors.Is(err, ErrNotClerkEvent) {
				t.Errorf("error %v does not wrap ErrNotClerkEvent", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			if diff := cmp.Diff(Event{}, got); diff != "" {
				t.Errorf("DecodeEvent returned a non-zero Event with an error (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, body := range fixtureBodies(f) {
		f.Add(body)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"type":"user.created","data":null}`,
		`{"type":"user.created","data":{"id":"u","updated_at":1,"primary_email_address_id":"e","email_addresses":[{"id":"e","email_address":"a@b"}]}}`,
		`{"type":"user.deleted","data":{"id":"u"},"timestamp":-9223372036854775808}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := DecodeEvent(body)
		if err != nil {
			if !errors.Is(err, ErrNotClerkEvent) {
				t.Fatalf("error %v does not wrap ErrNotClerkEvent", err)
			}
			return
		}
		if ev.Type == "" {
			t.Fatal("nil error with empty Type")
		}
		switch ev.Type {
		case TypeUserCreated, TypeUserUpdated:
			if ev.User == nil || ev.ClerkUserID == "" || ev.User.ClerkUserID != ev.ClerkUserID || ev.User.UpdatedAt.IsZero() {
				t.Fatalf("incomplete user event: %+v", ev)
			}
		case TypeUserDeleted:
			if ev.User != nil || ev.ClerkUserID == "" || ev.Timestamp.IsZero() {
				t.Fatalf("incomplete user.deleted event: %+v", ev)
			}
		default:
			if ev.User != nil {
				t.Fatalf("User set for type %q", ev.Type)
			}
		}
	})
}

// DecodeEvent reads bodies in one pass (object, splitArray) rather than
// decoding each level with encoding/json, which was the costliest part of
// a delivery. The tests below hold that reader to encoding/json's
// map[string]json.RawMessage and []json.RawMessage on every member and
// element, at every depth: it must take the same bodies as objects and
// read the same keys, values and strings from them.

// readerCases are bodies where reading objects in one pass could differ
// from encoding/json: escapes, duplicates, case, invalid UTF-8, nesting,
// spacing and malformed JSON.
var readerCases = []string{
	``, ` `, `null`, `[]`, `{}`, `"x"`, `{"type":"user.created"}`, `{"type":"user.created","data":null}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"primary_email_address_id":"e","email_addresses":[{"id":"e","email_address":"a@b"}]}}`,
	` { "type" : "user.updated" , "data" : { "id" : "u" , "updated_at" : 5 , "first_name" : " Ada " , "last_name" : null ,` +
		` "primary_email_address_id" : "e2" , "email_addresses" : [ { "id" : "e1" , "email_address" : "x@y" } , { "id" : "e2", "email_address" : "a@b" } ] } } `,
	"{\"type\":\"user.updated\",\n\t\"data\":{\"id\":\"u\",\r\n\"updated_at\":7}}",
	"{\"type\":\"user.updated\",\"data\":{\"id\":\"u\",\"updated_at\":7\t,\"n\":[1 ,2\r]}}",
	`{"typ\u0065":"user.created","d\u0061ta":{"\u0069d":"u\"1","updated_at":2,"first_name":"A\u00e9\ud83d\ude00","last_name":"\\B/"}}`,
	`{"Type":"user.created","type":"user.deleted","data":{"id":"u"},"timestamp":3}`,
	`{"type":"user.created","type":"user.updated","data":{"id":"a","id":"b","updated_at":1,"updated_at":2}}`,
	`{"type":"user.created","data":{"ID":"u","id":"v","Updated_At":1,"updated_at":9}}`,
	"{\"type\":\"user.created\",\"data\":{\"id\":\"u\xff\xfe\",\"updated_at\":1,\"first_name\":\"\xc3\"}}",
	"{\"ty\xffpe\":\"user.created\",\"type\":\"x.y\",\"data\":{}}",
	`{"type":"user.created","data":{"id":"u","updated_at":1,"email_addresses":{"id":"e"},"primary_email_address_id":"e"}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"email_addresses":[1,"x",null,{"id":"e"}],"primary_email_address_id":"e"}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"email_addresses":[{"id":"e","email_address":5}],"primary_email_address_id":"e"}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"email_addresses":[{"id":"e","email_address":""}],"primary_email_address_id":"e"}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"email_addresses":[],"primary_email_address_id":null}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"nested":{"a":[{"b":"}]\"{["}],"c":{}},"first_name":"A"}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1.5}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":"1"}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":-1}}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1e3}}`,
	`{"type":"user.deleted","data":{"id":"u"},"timestamp":-9223372036854775808}`,
	`{"type":"user.deleted","data":{"id":"u"},"timestamp":99999999999999999999}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1}} x`,
	`{"type":"user.created","data":{"id":"u","updated_at":1},}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1}`,
	`{"type":"user.created","data":{"id":"u","updated_at":01}}`,
	`{"type":"session.created","data":{"id":"sess"}}`,
	`{"type":"user.deleted","data":{"id":""},"timestamp":1}`,
	`{"type":true,"data":{}}`, `{"type":"","data":{}}`, `{"type":"x","data":[]}`,
}

func TestReaderMatchesEncodingJSON(t *testing.T) {
	bodies := fixtureBodies(t)
	for i, s := range readerCases {
		bodies[fmt.Sprintf("case %d", i)] = []byte(s)
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) { matchEncodingJSON(t, body) })
	}
}

func FuzzReaderMatchesEncodingJSON(f *testing.F) {
	for _, s := range readerCases {
		f.Add([]byte(s))
	}
	for _, body := range fixtureBodies(f) {
		f.Add(body)
	}
	f.Fuzz(matchEncodingJSON)
}

// matchEncodingJSON checks that asObject takes body as an object exactly
// when encoding/json does, and then reads what encoding/json reads.
func matchEncodingJSON(t *testing.T, body []byte) {
	o, ok := asObject(body, "")
	var m map[string]json.RawMessage
	if want := first(body) == '{' && json.Unmarshal(body, &m) == nil; ok != want {
		t.Fatalf("body %q: asObject = %v, encoding/json takes it as an object: %v", body, ok, want)
	}
	if ok {
		matchObject(t, o, m)
	}
}

// matchObject checks o against m, encoding/json's map of the same object:
// the same keys, unescaped, and for each the value of its last
// occurrence; then each value.
func matchObject(t *testing.T, o object, m map[string]json.RawMessage) {
	keys := map[string]bool{}
	for _, mem := range o.members {
		keys[string(mem.key)] = true
	}
	if len(keys) != len(m) {
		t.Fatalf("%q: %d distinct keys, encoding/json %d", o.path, len(keys), len(m))
	}
	for key, want := range m {
		got, ok := o.value(key)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%q: value %q (present: %v), encoding/json %q", o.path+key, got, ok, want)
		}
		matchValue(t, o.path+key, got)
	}
}

// matchValue checks the reading of a string, an object's members or an
// array's elements against encoding/json's.
func matchValue(t *testing.T, path string, raw json.RawMessage) {
	switch first(raw) {
	case '"':
		got, ok := unquote(raw)
		var want string
		if err := json.Unmarshal(raw, &want); !ok || err != nil || got != want {
			t.Fatalf("%q: string %q (%v), encoding/json %q (%v)", path, got, ok, want, err)
		}
	case '{':
		o, _ := memberObject(raw, path+".")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%q: encoding/json: %v", path, err)
		}
		matchObject(t, o, m)
	case '[':
		got := splitArray(raw)
		var want []json.RawMessage
		if err := json.Unmarshal(raw, &want); err != nil || len(got) != len(want) {
			t.Fatalf("%q: %d elements, encoding/json %d (%v)", path, len(got), len(want), err)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q[%d] = %q, encoding/json %q", path, i, got[i], want[i])
			}
			matchValue(t, fmt.Sprintf("%s[%d]", path, i), got[i])
		}
	}
}

package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/usersync/usersync/users"
)

// The decoder as it was before it read objects in one pass: a
// map[string]json.RawMessage per object. It is the oracle that
// FuzzDecodeEventMatchesReference holds DecodeEvent to.

func refDecodeEvent(body []byte) (Event, error) {
	env, ok := refAsObject(body, "")
	if !ok {
		return Event{}, fmt.Errorf("%w: body is not a JSON object", ErrNotClerkEvent)
	}
	typ, err := env.str("type")
	if err != nil {
		return Event{}, err
	}
	if typ == nil || *typ == "" {
		return Event{}, fmt.Errorf("%w: missing or empty field \"type\"", ErrNotClerkEvent)
	}
	data, ok := refAsObject(env.m["data"], "data.")
	if !ok {
		return Event{}, fmt.Errorf("%w: field \"data\" is missing or not an object", ErrNotClerkEvent)
	}

	ev := Event{Type: *typ}
	// A present-but-garbled timestamp is rejected for every type: it means
	// the body is not what Clerk sends, even if we would ignore the event.
	ms, ok, err := env.millis("timestamp")
	if err != nil {
		return Event{}, err
	}
	if ok {
		ev.Timestamp = time.UnixMilli(ms).UTC()
	}

	// Every user.* event names its user (a 422 otherwise),
	// including types usersync does not act on.
	if strings.HasPrefix(ev.Type, "user.") {
		id, err := data.str("id")
		if err != nil || id == nil || *id == "" {
			return Event{}, ErrMissingUserID
		}
		ev.ClerkUserID = *id
	}
	switch ev.Type {
	case TypeUserCreated, TypeUserUpdated, TypeUserDeleted:
	default:
		return ev, nil
	}

	if ev.Type == TypeUserDeleted {
		if ev.Timestamp.IsZero() {
			return Event{}, fmt.Errorf("%w: user.deleted without envelope \"timestamp\"", ErrNotClerkEvent)
		}
		return ev, nil
	}
	u, err := refDecodeUser(data)
	if err != nil {
		return Event{}, err
	}
	u.ClerkUserID = ev.ClerkUserID
	ev.User = u
	return ev, nil
}

func refDecodeUser(data refObject) (*UserData, error) {
	ms, ok, err := data.millis("updated_at")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: user event without \"data.updated_at\"", ErrNotClerkEvent)
	}
	u := &UserData{UpdatedAt: time.UnixMilli(ms).UTC()}

	firstName, err := data.str("first_name")
	if err != nil {
		return nil, err
	}
	lastName, err := data.str("last_name")
	if err != nil {
		return nil, err
	}
	u.Name = users.JoinName(firstName, lastName)

	u.Email, err = refPrimaryEmail(data)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func refPrimaryEmail(data refObject) (*string, error) {
	primary, err := data.str("primary_email_address_id")
	if err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if raw, ok := data.m["email_addresses"]; ok && !isNull(raw) {
		if first(raw) != '[' || json.Unmarshal(raw, &entries) != nil {
			return nil, fmt.Errorf("%w: field \"data.email_addresses\" is not an array", ErrNotClerkEvent)
		}
	}
	if primary == nil || *primary == "" {
		return nil, nil
	}
	for i, raw := range entries {
		entry, ok := refAsObject(raw, fmt.Sprintf("data.email_addresses[%d].", i))
		if !ok {
			return nil, fmt.Errorf("%w: \"data.email_addresses[%d]\" is not an object", ErrNotClerkEvent, i)
		}
		id, err := entry.str("id")
		if err != nil {
			return nil, err
		}
		if id == nil || *id != *primary {
			continue
		}
		addr, err := entry.str("email_address")
		if err != nil || addr == nil || *addr == "" {
			return nil, err
		}
		return addr, nil
	}
	return nil, nil
}

type refObject struct {
	path string
	m    map[string]json.RawMessage
}

func refAsObject(raw json.RawMessage, path string) (refObject, bool) {
	if first(raw) != '{' {
		return refObject{}, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return refObject{}, false
	}
	return refObject{path: path, m: m}, true
}

func (o refObject) str(key string) (*string, error) {
	raw, ok := o.m[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var s string
	if first(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return nil, fmt.Errorf("%w: field %q is not a string", ErrNotClerkEvent, o.path+key)
	}
	return &s, nil
}

func (o refObject) millis(key string) (ms int64, ok bool, err error) {
	raw, present := o.m[key]
	if !present || isNull(raw) {
		return 0, false, nil
	}
	ms, perr := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if perr != nil {
		return 0, false, fmt.Errorf("%w: field %q is not an integer Unix millisecond time", ErrNotClerkEvent, o.path+key)
	}
	if ms <= 0 {
		return 0, false, fmt.Errorf("%w: field %q must be a positive Unix millisecond time", ErrNotClerkEvent, o.path+key)
	}
	return ms, true, nil
}

// referenceCases are bodies where reading objects in one pass could differ
// from the map decoding: escapes, duplicates, case, invalid UTF-8, nesting,
// spacing and malformed JSON.
var referenceCases = []string{
	``, ` `, `null`, `[]`, `{}`, `"x"`, `{"type":"user.created"}`, `{"type":"user.created","data":null}`,
	`{"type":"user.created","data":{"id":"u","updated_at":1,"primary_email_address_id":"e","email_addresses":[{"id":"e","email_address":"a@b"}]}}`,
	` { "type" : "user.updated" , "data" : { "id" : "u" , "updated_at" : 5 , "first_name" : " Ada " , "last_name" : null ,` +
		` "primary_email_address_id" : "e2" , "email_addresses" : [ { "id" : "e1" , "email_address" : "x@y" } , { "id" : "e2", "email_address" : "a@b" } ] } } `,
	"{\"type\":\"user.updated\",\n\t\"data\":{\"id\":\"u\",\r\n\"updated_at\":7}}",
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

func TestDecodeEventMatchesReference(t *testing.T) {
	bodies := map[string][]byte{}
	for i, s := range referenceCases {
		bodies[fmt.Sprintf("case %d", i)] = []byte(s)
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			bodies[e.Name()] = readFixture(t, e.Name())
		}
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) { matchReference(t, body) })
	}
}

func FuzzDecodeEventMatchesReference(f *testing.F) {
	for _, s := range referenceCases {
		f.Add([]byte(s))
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			f.Add(readFixture(f, e.Name()))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) { matchReference(t, body) })
}

func matchReference(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := DecodeEvent(body)
	want, wantErr := refDecodeEvent(body)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("body %q:\nerror %v\nwant  %v", body, gotErr, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("body %q: event differs from the reference (-want +got):\n%s", body, diff)
	}
}

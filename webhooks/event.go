package webhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/usersync/usersync/errs"
	"github.com/usersync/usersync/users"
)

// Clerk event types this package interprets. Any other type still decodes,
// with only [Event.Type] and [Event.Timestamp] filled in.
const (
	TypeUserCreated = "user.created"
	TypeUserUpdated = "user.updated"
	TypeUserDeleted = "user.deleted"
)

// Decoding errors. The HTTP layer should answer 422 for both; messages
// name the offending field and never echo payload values.
var (
	// ErrNotClerkEvent marks a body that is not a well-formed Clerk event
	// envelope, or a user event whose data lacks required fields.
	ErrNotClerkEvent = errs.New(errs.Unprocessable, "not a Clerk event")

	// ErrMissingUserID marks a user.created/updated/deleted event without a
	// non-empty string data.id. It is an ErrNotClerkEvent.
	ErrMissingUserID = notClerkEvent("user event without a non-empty string \"data.id\"")
)

// notClerkEvent returns an ErrNotClerkEvent whose message says what is wrong.
func notClerkEvent(format string, args ...any) *errs.Error {
	return errs.New(ErrNotClerkEvent, "not a Clerk event: "+format, args...)
}

// Event is a decoded Clerk webhook envelope.
type Event struct {
	// Type is the Clerk event type, e.g. "user.created"; never empty.
	Type string

	// Timestamp is the envelope's "timestamp" (Unix ms, in UTC): when Clerk
	// emitted the event. For user.deleted it is the only ordering signal
	// (the tombstone time) and is required; for other types it is zero if
	// absent.
	Timestamp time.Time

	// ClerkUserID is data.id for user.* events and "" for all other types
	// (data.id of e.g. session.created is not a user id).
	ClerkUserID string

	// User is set for user.created and user.updated, nil otherwise.
	User *UserData
}

// UserData is the part of a Clerk user object usersync keeps.
type UserData struct {
	ClerkUserID string

	// Email is the address of the primary email entry; nil when the user has
	// no primary email (e.g. phone-only sign-up) or it cannot be found.
	Email *string

	// Name is first and last name joined by one space; nil when both are
	// null or blank.
	Name *string

	// UpdatedAt is the user's updated_at (Unix ms, in UTC), used to order
	// updates: Svix does not guarantee delivery order.
	UpdatedAt time.Time
}

// DecodeEvent decodes a Clerk webhook body. It should only be called on a
// body that [Verifier.Verify] accepted.
//
// The body must be a JSON object with a non-empty string "type" and an object
// "data"; otherwise the error wraps [ErrNotClerkEvent]. Unknown fields are
// ignored everywhere. Fields that are read must have their documented JSON
// type (null allowed where Clerk allows it): a mismatch is an error rather
// than a silently dropped value. For user.created/updated/deleted a missing,
// non-string or empty data.id wraps [ErrMissingUserID]; user.created/updated
// also need a positive data.updated_at, and user.deleted a positive envelope
// timestamp, since without them the event cannot be ordered against others.
// DecodeEvent never panics, whatever the input.
func DecodeEvent(body []byte) (Event, error) {
	env, ok := asObject(body, "")
	if !ok {
		return Event{}, notClerkEvent("body is not a JSON object")
	}
	typ, err := env.str("type")
	if err != nil {
		return Event{}, err
	}
	if typ == nil || *typ == "" {
		return Event{}, notClerkEvent("missing or empty field \"type\"")
	}
	rawData, _ := env.value("data")
	data, ok := memberObject(rawData, "data.")
	if !ok {
		return Event{}, notClerkEvent("field \"data\" is missing or not an object")
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
			return Event{}, notClerkEvent("user.deleted without envelope \"timestamp\"")
		}
		return ev, nil
	}
	u, err := decodeUser(data)
	if err != nil {
		return Event{}, err
	}
	u.ClerkUserID = ev.ClerkUserID
	ev.User = u
	return ev, nil
}

// decodeUser extracts UserData (minus the id) from a user object.
func decodeUser(data object) (*UserData, error) {
	ms, ok, err := data.millis("updated_at")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notClerkEvent("user event without \"data.updated_at\"")
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

	u.Email, err = primaryEmail(data)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// primaryEmail returns the email_address of the email_addresses entry whose
// id is primary_email_address_id. Clerk does not keep the primary first in
// the list, so position means nothing.
func primaryEmail(data object) (*string, error) {
	primary, err := data.str("primary_email_address_id")
	if err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if raw, ok := data.value("email_addresses"); ok && !isNull(raw) {
		if first(raw) != '[' {
			return nil, notClerkEvent("field \"data.email_addresses\" is not an array")
		}
		entries = splitArray(raw)
	}
	if primary == nil || *primary == "" {
		return nil, nil
	}
	for i, raw := range entries {
		entry, ok := memberObject(raw, fmt.Sprintf("data.email_addresses[%d].", i))
		if !ok {
			return nil, notClerkEvent("\"data.email_addresses[%d]\" is not an object", i)
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

// object is a JSON object's members in order, with exact (case-sensitive)
// keys, which encoding/json's struct decoding would not give us. path
// prefixes field names in error messages.
//
// Objects are read in one pass over bytes that json.Valid accepted, without
// decoding what is not looked at: a Clerk user event is about 2 KB, of
// which a few fields matter, and decoding each level into a
// map[string]json.RawMessage (validating it again each time) was the
// costliest part of a webhook delivery. The result is the same as that
// map's: keys unescaped, invalid UTF-8 as U+FFFD, the last duplicate wins.
type object struct {
	path    string
	members []member
}

type member struct {
	key   []byte          // unescaped
	value json.RawMessage // the value's bytes, without surrounding space
}

// asObject reads raw, a whole JSON text, as an object. It reports false for
// anything else, including null and invalid JSON.
func asObject(raw []byte, path string) (object, bool) {
	if first(raw) != '{' || !json.Valid(raw) {
		return object{}, false
	}
	return splitObject(raw, path), true
}

// memberObject is asObject for a value read out of a valid object, which
// is valid JSON itself: it is not checked again.
func memberObject(raw json.RawMessage, path string) (object, bool) {
	if first(raw) != '{' {
		return object{}, false
	}
	return splitObject(raw, path), true
}

// value returns the value of key; the last of duplicate keys wins, as in
// encoding/json.
func (o object) value(key string) (json.RawMessage, bool) {
	for i := len(o.members) - 1; i >= 0; i-- {
		if string(o.members[i].key) == key {
			return o.members[i].value, true
		}
	}
	return nil, false
}

// str returns the field as a string, nil if absent or null, and an
// ErrNotClerkEvent error for any other JSON type.
func (o object) str(key string) (*string, error) {
	raw, ok := o.value(key)
	if !ok || isNull(raw) {
		return nil, nil
	}
	s, ok := unquote(raw)
	if !ok {
		return nil, notClerkEvent("field %q is not a string", o.path+key)
	}
	return &s, nil
}

// unquote decodes a JSON string literal as encoding/json does; ok is false
// for anything else.
func unquote(raw []byte) (string, bool) {
	if first(raw) != '"' {
		return "", false
	}
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), true // nothing to unescape or replace
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// splitObject lists the members of raw, which must be a valid JSON object.
func splitObject(raw []byte, path string) object {
	o := object{path: path, members: make([]member, 0, 16)}
	for i, more := next(raw, skipSpace(raw, 0)+1); more; i, more = next(raw, i) {
		end := skipString(raw, i)
		key := raw[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			s, _ := unquote(raw[i:end]) // a valid literal: cannot fail
			key = []byte(s)
		}
		i = skipSpace(raw, skipSpace(raw, end)+1) // past ':'
		vend := skipValue(raw, i)
		o.members = append(o.members, member{key: key, value: raw[i:vend]})
		i = vend
	}
	return o
}

// splitArray lists the elements of raw, which must be a valid JSON array.
func splitArray(raw []byte) []json.RawMessage {
	var elems []json.RawMessage
	for i, more := next(raw, skipSpace(raw, 0)+1); more; i, more = next(raw, i) {
		end := skipValue(raw, i)
		elems = append(elems, raw[i:end])
		i = end
	}
	return elems
}

// next returns where the next member or element starts in raw, a valid
// JSON object or array, from i, just past '{' or '[' or past the previous
// one; more is false at the closing '}' or ']'.
func next(raw []byte, i int) (start int, more bool) {
	i = skipSpace(raw, i)
	switch raw[i] {
	case '}', ']':
		return i, false
	case ',':
		return skipSpace(raw, i+1), true
	}
	return i, true
}

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string literal at raw[i].
func skipString(raw []byte, i int) int {
	for j := i + 1; ; j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// skipValue returns the index just past the value that starts at raw[i].
func skipValue(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch raw[j] {
			case '"':
				j = skipString(raw, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	default: // a number, true, false or null
		j := i
		for j < len(raw) && !strings.ContainsRune(",}] \t\n\r", rune(raw[j])) {
			j++
		}
		return j
	}
}

// millis returns the field as positive Unix milliseconds; ok is false if it
// is absent or null. Non-integers, numeric strings, values overflowing int64
// and values <= 0 are errors: Clerk always sends positive integer ms, and
// accepting a zero time would silently break ordering.
func (o object) millis(key string) (ms int64, ok bool, err error) {
	raw, present := o.value(key)
	if !present || isNull(raw) {
		return 0, false, nil
	}
	ms, perr := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if perr != nil {
		return 0, false, notClerkEvent("field %q is not an integer Unix millisecond time", o.path+key)
	}
	if ms <= 0 {
		return 0, false, notClerkEvent("field %q must be a positive Unix millisecond time", o.path+key)
	}
	return ms, true, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// first returns the first non-whitespace byte of raw, or 0.
func first(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	ErrNotClerkEvent = errors.New("webhooks: not a Clerk event")

	// ErrMissingUserID marks a user.created/updated/deleted event without a
	// non-empty string data.id. It wraps ErrNotClerkEvent.
	ErrMissingUserID = fmt.Errorf("%w: user event without a non-empty string \"data.id\"", ErrNotClerkEvent)
)

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
		return Event{}, fmt.Errorf("%w: body is not a JSON object", ErrNotClerkEvent)
	}
	typ, err := env.str("type")
	if err != nil {
		return Event{}, err
	}
	if typ == nil || *typ == "" {
		return Event{}, fmt.Errorf("%w: missing or empty field \"type\"", ErrNotClerkEvent)
	}
	data, ok := asObject(env.m["data"], "data.")
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

	// Every user.* event names its user (the contract's 422 otherwise),
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
	u.Name = joinName(firstName, lastName)

	u.Email, err = primaryEmail(data)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// joinName trims each part and joins the non-empty ones with one space, so
// "Ada " + null gives "Ada", never "Ada " or " Ada".
func joinName(parts ...*string) *string {
	var kept []string
	for _, p := range parts {
		if p == nil {
			continue
		}
		if s := strings.TrimSpace(*p); s != "" {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	name := strings.Join(kept, " ")
	return &name
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
	if raw, ok := data.m["email_addresses"]; ok && !isNull(raw) {
		if first(raw) != '[' || json.Unmarshal(raw, &entries) != nil {
			return nil, fmt.Errorf("%w: field \"data.email_addresses\" is not an array", ErrNotClerkEvent)
		}
	}
	if primary == nil || *primary == "" {
		return nil, nil
	}
	for i, raw := range entries {
		entry, ok := asObject(raw, fmt.Sprintf("data.email_addresses[%d].", i))
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

// object is a decoded JSON object with exact (case-sensitive) keys, which
// encoding/json's struct decoding would not give us. path prefixes field
// names in error messages.
type object struct {
	path string
	m    map[string]json.RawMessage
}

// asObject decodes raw as a JSON object. It reports false for anything else,
// including null and invalid JSON.
func asObject(raw json.RawMessage, path string) (object, bool) {
	if first(raw) != '{' {
		return object{}, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return object{}, false
	}
	return object{path: path, m: m}, true
}

// str returns the field as a string, nil if absent or null, and an
// ErrNotClerkEvent error for any other JSON type.
func (o object) str(key string) (*string, error) {
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

// millis returns the field as positive Unix milliseconds; ok is false if it
// is absent or null. Non-integers, numeric strings, values overflowing int64
// and values <= 0 are errors: Clerk always sends positive integer ms, and
// accepting a zero time would silently break ordering.
func (o object) millis(key string) (ms int64, ok bool, err error) {
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

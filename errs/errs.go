// Package errs is usersync's one error vocabulary. A failure has a kind
// (invalid input, not found, gone, …), which the HTTP layer maps to a
// status in one table, and a message that is safe to show the client as
// it is: it names what is wrong and never echoes a value, which could be a
// token. Domain packages return these; only the HTTP layer decides statuses.
package errs

import (
	"errors"
	"fmt"
)

// The kinds. Test for them with errors.Is.
var (
	Invalid          = errors.New("invalid")            // the input breaks a rule
	Unauthorized     = errors.New("unauthorized")       // no or a bad credential
	Forbidden        = errors.New("forbidden")          // a good credential, not for this
	NotFound         = errors.New("not found")          // absent, or not the caller's
	MethodNotAllowed = errors.New("method not allowed") // the path exists, the method does not
	Conflict         = errors.New("conflict")           // clashes with stored state
	Gone             = errors.New("gone")               // deleted for good
	TooLarge         = errors.New("too large")          // a body over its limit
	Unprocessable    = errors.New("unprocessable")      // well-formed and authentic, yet unusable
	TooManyRequests  = errors.New("too many requests")  // over a rate or a cap
	Unavailable      = errors.New("unavailable")        // not configured, or a dependency is down
)

// Error is a failure of a kind, with a message for the client. Kind is one
// of the kinds above or another *Error (a refinement such as "not a Clerk
// event", itself of a kind), so that errors.Is finds both.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, e.Kind) hold.
func (e *Error) Unwrap() error { return e.Kind }

// New returns an *Error of kind with a formatted message.
func New(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// FieldError names the input field that is invalid and says why: its
// message ("lat: must be between -90 and 90") is fit for the client. It is
// of kind Invalid.
type FieldError struct {
	Field string // wire name: "lat", "[2].speed", "location.coords.latitude", "cursor"
	Msg   string // what is wrong: "must be between -90 and 90"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, Invalid) hold.
func (e *FieldError) Unwrap() error { return Invalid }

// Field returns a *FieldError for field with a formatted message.
func Field(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// UserDeleted is the one error for a user whose Clerk account was deleted:
// the tombstone is permanent, whoever asks.
var UserDeleted = New(Gone, "user has been deleted")

// Message returns what a client may be told of err: the message of the
// outermost *Error or *FieldError in its chain, and ok false when there is
// none (the error is unexpected: the caller's to log, never to show).
func Message(err error) (msg string, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch v := e.(type) {
		case *Error:
			return v.Msg, true
		case *FieldError:
			return v.Error(), true
		}
	}
	return "", false
}

package tracking

import (
	"errors"
	"fmt"
)

// Sentinel errors, tested with errors.Is. The HTTP layer maps them to statuses.
var (
	// ErrInvalid marks input that breaks the contract (400).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound marks a device that does not exist or is not the caller's (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict marks a write that clashes with stored state (409).
	ErrConflict = errors.New("conflict")
	// ErrGone marks an owner that has been deleted (410).
	ErrGone = errors.New("gone")
	// ErrInvalidToken marks an ingest token that is malformed, unknown or
	// rotated away (401). Its message is the contract's body.
	ErrInvalidToken = errors.New("invalid device token")
)

// FieldError names the input field that is invalid and says why. It wraps
// ErrInvalid, and its message ("lat: must be between -90 and 90") is fit to
// send back to the client as is: it never echoes the offending value, which
// could be a token.
type FieldError struct {
	Field string // wire name: "lat", "[2].speed", "location.coords.latitude", "cursor"
	Msg   string // what is wrong: "must be between -90 and 90"
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ConflictError says why a write clashes with stored state. It wraps
// ErrConflict, and its message is fit to send back to the client as is.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }

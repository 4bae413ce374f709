package tracking

import "github.com/usersync/usersync/errs"

// The errors of this package that callers test for, in the vocabulary of
// package errs.
var (
	// ErrDeviceNotFound is the one answer for a device that does not exist,
	// is another user's, or has a malformed id: the same message in every
	// case, so that none tells another user's device from no device.
	ErrDeviceNotFound = errs.New(errs.NotFound, "device not found")
	// ErrInvalidToken marks an ingest token that is malformed, unknown or
	// rotated away. Its message is the documented body.
	ErrInvalidToken = errs.New(errs.Unauthorized, "invalid device token")
)

// invalid returns an *errs.FieldError: field is the wire name ("lat",
// "[2].speed", "cursor"), the message says what is wrong, never the value.
func invalid(field, format string, args ...any) error {
	return errs.Field(field, format, args...)
}

//go:build !unix

package migrations

import "context"

// lockFile is a no-op where flock is missing: there, one process at a
// time should migrate an embedded database.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }

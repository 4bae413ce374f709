package app

import "runtime/debug"

// GCPercent is the garbage collector's target usersync runs with unless
// GOGC is set. Its live heap is small (about 10 MB), so Go's default of
// 100 collects after every ~10 MB allocated: a few times a second under
// load. 200 halves the collections (measured on the hot paths: 10–30 %
// less CPU per request at 400, see bench/README.md) for about 10 MB more
// memory at peak.
const GCPercent = 200

// TuneGC sets the collector's target to GCPercent, unless the operator
// set GOGC (which the Go runtime has applied already).
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}

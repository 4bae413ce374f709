// Package tracking holds the database-free building blocks of devices and
// locations (TRACKING.md): point validation, the OsmAnd protocol decoder, route
// simplification, ingest tokens and route cursors. It knows nothing of HTTP or
// SQL; the store and the handlers are built on top of it.
package tracking

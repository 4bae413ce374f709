// Package tracking holds devices and their locations (docs/tracking.md): point
// validation, the OsmAnd protocol decoder, route simplification, ingest tokens
// and route cursors, and the Service that stores devices and locations with
// bun. It knows nothing of HTTP; the handlers are built on top of it.
package tracking

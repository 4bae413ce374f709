// Package bench measures usersync on a real database: the tracking routes
// (Go benchmarks in tracking_test.go), the sync and webhook routes
// against pgbench running the users service's own upsert (cmd/syncbench),
// partitions (cmd/partitionbench) and the live stream (cmd/livebench).
//
// The package holds what they share: Clerk-style session tokens and Svix
// signatures minted with keys generated per run, throwaway databases, the
// server wiring of cmd/usersync, a bounded HTTP load generator, a
// Server-Sent Events client, /metrics and /proc readings. Nothing here is
// imported by the service. See README.md.
package bench

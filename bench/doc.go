// Package bench measures usersync on a real database: the tracking routes
// (Go benchmarks in tracking_test.go) and the sync and webhook routes
// against pgbench running the users service's own upsert (cmd/syncbench).
//
// The package holds what both share: Clerk-style session tokens and Svix
// signatures minted with keys generated per run, throwaway databases, the
// server wiring of cmd/usersync, a bounded HTTP load generator and /proc
// readings. Nothing here is imported by the service. See README.md.
package bench

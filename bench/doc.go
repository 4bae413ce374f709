// Package bench measures usersync on a real database: the tracking routes
// (Go benchmarks in tracking_test.go), and the hot paths against pgbench
// running the same SQL work (cmd/pathbench, with the Workload, the Paths
// and the pgbench scripts of pgbench/ defined here, so that the tests keep
// them honest), partitions (cmd/partitionbench) and the live stream
// (cmd/livebench).
//
// The package holds what those share: Clerk-style session tokens and Svix
// signatures minted with keys generated per run, throwaway databases, the
// server wiring of cmd/usersync, a bounded HTTP load generator, a
// Server-Sent Events client, /metrics and /proc readings. Nothing here is
// imported by the service. See README.md.
package bench

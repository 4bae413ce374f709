package bench_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/usersync/usersync/bench"
)

// result is the last (largest b.N) run of a benchmark.
type result struct {
	n        int
	rate     float64
	unit     string
	p50, p99 time.Duration
	cpu      cpuUse
}

var (
	resultsMu sync.Mutex
	results   = map[string]result{}
	order     []string
)

func record(name string, r result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if _, ok := results[name]; !ok {
		order = append(order, name)
	}
	results[name] = r
}

// target is a goal of the issue for the benchmark named prefix and its sub-benchmarks.
type target struct {
	prefix string
	text   string
	ok     func(result) bool
}

var targets = []target{
	{"BenchmarkLatest/postgres", "≥ 4,000 req/s and p99 ≤ 10 ms", func(r result) bool {
		return r.rate >= 4000 && r.p99 <= 10*time.Millisecond
	}},
	{"BenchmarkRoute/postgres/json", "p50 ≤ 40 ms", func(r result) bool { return r.p50 <= 40*time.Millisecond }},
	{"BenchmarkIngest/postgres", "≥ 25,000 points/s", func(r result) bool { return r.rate >= 25000 }},
	{"BenchmarkIngest/sqlite", "≥ 50,000 points/s", func(r result) bool { return r.rate >= 50000 }},
}

func printSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(order) == 0 {
		return
	}
	fmt.Fprintln(w, "\nCPU per operation: this process (the server and the load generator share it) and PostgreSQL;")
	fmt.Fprintln(w, "\"other\": cores the rest of the machine (other users) kept busy meanwhile.")
	fmt.Fprintln(w, "\n| benchmark | runs | rate | p50 ms | p99 ms | µs/op process | µs/op postgres | other cores | target | verdict |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, name := range order {
		r := results[name]
		goal, verdict := "—", ""
		for _, t := range targets {
			if name == t.prefix || strings.HasPrefix(name, t.prefix+"/") {
				goal, verdict = t.text, "MISSES"
				if t.ok(r) {
					verdict = "meets"
				}
				break
			}
		}
		pg := "—"
		if strings.Contains(name, "/postgres") {
			pg = fmt.Sprintf("%d", r.cpu.postgres.Microseconds())
		}
		fmt.Fprintf(w, "| %s | %d | %.0f %s | %s | %s | %d | %s | %.2f | %s | %s |\n", strings.TrimPrefix(name, "Benchmark"),
			r.n, r.rate, r.unit, bench.Ms(r.p50), bench.Ms(r.p99), r.cpu.process.Microseconds(), pg, r.cpu.other, goal, verdict)
	}
}

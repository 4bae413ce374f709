package bench_test

import (
	"math"
	"testing"

	"github.com/usersync/usersync/bench"
	"github.com/usersync/usersync/migrations/dbtest"
	"github.com/usersync/usersync/testkit"
)

func TestHistogramQuantile(t *testing.T) {
	// 100 observations: 10 ≤ 1, 80 in (1, 2], 10 in (2, 4]; nothing above.
	h := bench.Histogram{Count: 100, Buckets: []bench.Bucket{{1, 10}, {2, 90}, {4, 100}, {math.Inf(1), 100}}}
	for _, tt := range []struct{ q, want float64 }{
		{0.05, 0.5},   // half way through the first bucket, which starts at 0
		{0.5, 1.5},    // rank 50: 40 of the 80 in (1, 2]
		{0.9, 2},      // the top of (1, 2]
		{0.95, 3},     // half way through (2, 4]
		{0.99, 3.8},   // rank 99: 9 of the 10 in (2, 4]
		{0.999, 3.98}, // still in (2, 4]
	} {
		if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	// Observations in +Inf only: the highest finite bound, as Prometheus says.
	inf := bench.Histogram{Count: 4, Buckets: []bench.Bucket{{1, 0}, {2, 0}, {math.Inf(1), 4}}}
	if got := inf.Quantile(0.5); got != 2 {
		t.Errorf("Quantile in +Inf = %v, want 2", got)
	}
	if got := h.Within(2); got != 0.9 {
		t.Errorf("Within(2) = %v, want 0.9", got)
	}
	if got := h.Within(3); !math.IsNaN(got) {
		t.Errorf("Within(3), not a bucket bound, = %v, want NaN", got)
	}
	if got := (bench.Histogram{}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("Quantile of nothing = %v, want NaN", got)
	}

	later := bench.Histogram{Count: 150, Sum: 9, Buckets: []bench.Bucket{{1, 10}, {2, 120}, {4, 150}, {math.Inf(1), 150}}}
	d := later.Since(h)
	if d.Count != 50 || d.Buckets[0].Count != 0 || d.Buckets[1].Count != 30 || d.Buckets[2].Count != 50 || math.Abs(d.Quantile(0.5)-(1+25.0/30)) > 1e-9 {
		t.Errorf("Since = %+v (median %v), want 50 observations: 30 in (1, 2], 20 in (2, 4]", d, d.Quantile(0.5))
	}
}

// TestScrapeMetricsReadsServer reads the real service's /metrics: the
// figures livebench takes from it are there, under these names.
func TestScrapeMetricsReadsServer(t *testing.T) {
	srv := testkit.Start(t, dbtest.Open(t, dbtest.SQLiteURL(t)), nil)
	m, err := bench.ScrapeMetrics(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Histogram("live_commit_to_send_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 0 {
		t.Errorf("live_commit_to_send_seconds = %+v before any stream", h)
	}
	if !hasBound(h, 0.1) { // livebench reads the share within 100 ms there
		t.Errorf("live_commit_to_send_seconds has no 0.1 s bucket: %+v", h.Buckets)
	}
	for _, name := range []string{"live_streams_open", "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if got := m.Value("go_goroutines"); got < 1 {
		t.Errorf("go_goroutines = %v", got)
	}
	if got := m.Value("live_stream_events_total", "type", "location"); got != 0 {
		t.Errorf(`live_stream_events_total{type="location"} = %v, want 0`, got)
	}
	if _, err := m.Histogram("no_such_histogram"); err == nil {
		t.Error("a missing histogram read without an error")
	}
}

func hasBound(h bench.Histogram, b float64) bool {
	for _, x := range h.Buckets {
		if x.UpperBound == b {
			return true
		}
	}
	return false
}

package bench

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one reading of a server's /metrics, by family name.
type Metrics map[string]*dto.MetricFamily

// ScrapeMetrics reads base + "/metrics" (base is http://127.0.0.1:port).
func ScrapeMetrics(base string) (Metrics, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// Value is the value of the gauge, counter or untyped series of family
// name whose labels include labelPairs (name, value, …), summed over the
// series that match; 0 if there is none.
func (m Metrics) Value(name string, labelPairs ...string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	var sum float64
	for _, s := range f.GetMetric() {
		if !hasLabels(s, labelPairs) {
			continue
		}
		switch {
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum
}

func hasLabels(s *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Histogram is a Prometheus histogram: cumulative counts at upper bounds,
// ascending, the last being +Inf.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets []Bucket
}

// Bucket is the number of observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram returns the histogram family name (its first series).
func (m Metrics) Histogram(name string) (Histogram, error) {
	f := m[name]
	if f == nil || len(f.GetMetric()) == 0 || f.GetMetric()[0].Histogram == nil {
		return Histogram{}, fmt.Errorf("no histogram %s in /metrics", name)
	}
	h := f.GetMetric()[0].Histogram
	out := Histogram{Count: h.GetSampleCount(), Sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
	}
	if n := len(out.Buckets); n == 0 || !math.IsInf(out.Buckets[n-1].UpperBound, 1) {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: math.Inf(1), Count: out.Count})
	}
	return out, nil
}

// Since is what h observed after before, a reading of the same histogram.
func (h Histogram) Since(before Histogram) Histogram {
	out := Histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	for i, b := range h.Buckets {
		if i < len(before.Buckets) {
			b.Count -= before.Buckets[i].Count
		}
		out.Buckets = append(out.Buckets, b)
	}
	return out
}

// Quantile estimates the q-quantile (0 < q < 1) as Prometheus's
// histogram_quantile does: linearly within the bucket that holds it, the
// first bucket starting at 0. In the +Inf bucket it is the highest finite
// bound. NaN when the histogram is empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Buckets) == 0 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	lower, below := 0.0, uint64(0)
	for _, b := range h.Buckets {
		if float64(b.Count) >= rank {
			if math.IsInf(b.UpperBound, 1) {
				return lower
			}
			in := b.Count - below
			if in == 0 {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b.UpperBound, b.Count
	}
	return lower
}

// Within is the share of observations ≤ bound, which must be one of the
// bucket bounds (exact there); NaN when it is not, or the histogram is empty.
func (h Histogram) Within(bound float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	for _, b := range h.Buckets {
		if b.UpperBound == bound {
			return float64(b.Count) / float64(h.Count)
		}
	}
	return math.NaN()
}

// Outcomes are counts by the outcome label of one of the server's
// counters (user_upserts_total, webhook_deliveries_total).
type Outcomes map[string]int64

// Outcomes sums the counter name by its outcome label ("-" for series
// without one).
func (m Metrics) Outcomes(name string) Outcomes {
	out := Outcomes{}
	if f := m[name]; f != nil {
		for _, s := range f.GetMetric() {
			outcome := "-"
			for _, l := range s.GetLabel() {
				if l.GetName() == "outcome" {
					outcome = l.GetValue()
				}
			}
			out[outcome] += int64(s.GetCounter().GetValue())
		}
	}
	return out
}

// Since is o minus before, without the outcomes that did not move.
func (o Outcomes) Since(before Outcomes) Outcomes {
	d := Outcomes{}
	for k, v := range o {
		if v -= before[k]; v != 0 {
			d[k] = v
		}
	}
	return d
}

// Writes are the server's user upserts and webhook deliveries by outcome:
// what a phase wrote is the change between two readings (Since).
type Writes struct{ Upserts, Deliveries Outcomes }

// ScrapeWrites reads user_upserts_total and webhook_deliveries_total from
// one scrape of base's /metrics.
func ScrapeWrites(base string) (Writes, error) {
	m, err := ScrapeMetrics(base)
	if err != nil {
		return Writes{}, err
	}
	return Writes{Upserts: m.Outcomes("user_upserts_total"), Deliveries: m.Outcomes("webhook_deliveries_total")}, nil
}

// Since is w minus before, without the outcomes that did not move.
func (w Writes) Since(before Writes) Writes {
	return Writes{Upserts: w.Upserts.Since(before.Upserts), Deliveries: w.Deliveries.Since(before.Deliveries)}
}

// String is "a=1 b=2", sorted.
func (o Outcomes) String() string {
	var parts []string
	for k, v := range o {
		parts = append(parts, k+"="+strconv.FormatInt(v, 10))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

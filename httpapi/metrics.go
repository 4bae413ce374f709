package httpapi

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/usersync/usersync/users"
	"github.com/usersync/usersync/webhooks"
)

// Metrics are usersync's Prometheus metrics, in a registry of their own
// (no process-wide default registry).
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	webhooks *prometheus.CounterVec
	upserts  *prometheus.CounterVec
	pruned   *prometheus.CounterVec

	streams      prometheus.Gauge
	streamEvents *prometheus.CounterVec
	streamDelay  prometheus.Histogram
}

// NewMetrics registers the HTTP, webhook, upsert, retention, live stream,
// database pool, Go runtime and process metrics. db may be nil (no pool
// figures).
func NewMetrics(db *sql.DB) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request duration by method, route template and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_deliveries_total",
			Help: "Verified Clerk webhook deliveries by event type and outcome.",
		}, []string{"type", "outcome"}),
		upserts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "user_upserts_total",
			Help: "User writes by writer (sync, webhook, backfill) and outcome.",
		}, []string{"writer", "outcome"}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pruned_total",
			Help: "Rows removed by retention, by table (locations, webhook_events).",
		}, []string{"table"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "live_streams_open",
			Help: "Open live location streams (GET /api/locations/stream) of this process.",
		}),
		streamEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "live_stream_events_total",
			Help: "Events sent on live streams, by type.",
		}, []string{"type"}),
		streamDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "live_commit_to_send_seconds",
			Help:    "Time from the commit of a change to its event being written to a live stream.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	// Both tables and every event type show from the start, at 0.
	m.pruned.WithLabelValues("locations")
	m.pruned.WithLabelValues("webhook_events")
	for _, t := range []string{"location", "device", "device_deleted", "reauthenticate"} {
		m.streamEvents.WithLabelValues(t)
	}
	m.registry.MustRegister(m.requests, m.duration, m.webhooks, m.upserts, m.pruned,
		m.streams, m.streamEvents, m.streamDelay,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(db, "usersync"))
	}
	return m
}

// ObserveWebhook counts one delivery; it fits webhooks.Service.Observer.
func (m *Metrics) ObserveWebhook(eventType string, outcome webhooks.Outcome) {
	if eventType == "" {
		eventType = "unknown"
	}
	m.webhooks.WithLabelValues(eventType, string(outcome)).Inc()
}

// ObserveUpsert counts one user write; it fits users.Service.Observer.
func (m *Metrics) ObserveUpsert(writer users.Writer, outcome users.Outcome) {
	m.upserts.WithLabelValues(string(writer), string(outcome)).Inc()
}

// ObservePruned counts rows removed by retention; it fits
// retention.Pruner.Observer.
func (m *Metrics) ObservePruned(table string, n int) {
	m.pruned.WithLabelValues(table).Add(float64(n))
}

func (m *Metrics) observeRequest(method, route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(method, route, s).Inc()
	m.duration.WithLabelValues(method, route, s).Observe(took.Seconds())
}

func (m *Metrics) streamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

func (m *Metrics) streamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

// streamEvent counts an event; committed, when set, is when the change it
// reports committed.
func (m *Metrics) streamEvent(name string, committed time.Time) {
	if m == nil {
		return
	}
	m.streamEvents.WithLabelValues(name).Inc()
	if !committed.IsZero() {
		m.streamDelay.Observe(time.Since(committed).Seconds())
	}
}

// watchRateLimiter exports the number of buckets l holds, so that an
// operator sees how near RATE_LIMIT_MAX_BUCKETS it runs. Registering it
// again (a second server on the same Metrics) changes nothing.
func (m *Metrics) watchRateLimiter(l *RateLimiter) {
	if m == nil || l == nil {
		return
	}
	_ = m.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "http_rate_limit_buckets",
		Help: "Token buckets the rate limiter holds (at most RATE_LIMIT_MAX_BUCKETS).",
	}, func() float64 { return float64(l.Len()) }))
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Package ops is mhsm's operations surface: Prometheus metrics of the
// request path and the /healthz, /readyz and /metrics handlers, served on
// their own listener (--ops-addr) so they need no token and never share a
// port with the API unless the operator wants that. Read ops.go.
package ops

import (
	"context"
	"crypto/fips140"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the request-path metrics. A nil *Metrics records nothing.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	throttled *prometheus.CounterVec
}

// NewMetrics registers mhsm's metrics with Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mhsm_requests_total", Help: "Requests by plane, operation and HTTP status class.",
		}, []string{"plane", "operation", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mhsm_request_duration_seconds", Help: "Request latency by plane and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"plane", "operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mhsm_throttled_total", Help: "Requests refused with 429, by the limit that refused them.",
		}, []string{"limit"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.throttled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mhsm_fips140_enabled", Help: "1 when the process runs Go's FIPS 140-3 module in FIPS mode.",
	}, func() float64 {
		if fips140.Enabled() {
			return 1
		}
		return 0
	}))
	return m
}

// Observe records one finished request.
func (m *Metrics) Observe(plane, operation string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if operation == "" {
		operation = "unknown"
	}
	m.requests.WithLabelValues(plane, operation, strconv.Itoa(status/100)+"xx").Inc()
	m.latency.WithLabelValues(plane, operation).Observe(d.Seconds())
}

// Throttled counts a 429 by the limit ("fair", "principal" or "hsm").
func (m *Metrics) Throttled(limit string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(limit).Inc()
}

// Gauge registers a gauge read on every scrape (e.g. audit queue depth).
func (m *Metrics) Gauge(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Check is one readiness check; an error makes /readyz answer 503.
type Check func(ctx context.Context) error

// Handler serves /healthz (the process is up; reports FIPS mode),
// /readyz (every check passes) and /metrics.
func Handler(m *Metrics, checks map[string]Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "fips140": fips140.Enabled()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		out := map[string]string{}
		status := http.StatusOK
		for name, c := range checks {
			if err := c(ctx); err != nil {
				out[name] = "failing"
				status = http.StatusServiceUnavailable
				continue
			}
			out[name] = "ok"
		}
		writeJSON(w, status, map[string]any{"checks": out})
	})
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

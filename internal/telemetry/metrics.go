// Package telemetry gives every service its Prometheus metrics (served on
// METRICS_ADDR, default :9464) and its OpenTelemetry traces (continuing the
// traceparent that Dapr puts on deliveries and invocations).
package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evolution-todo/todo/internal/httpx"
)

// Metrics are the metrics every service shares. Services add their own to
// Registry.
type Metrics struct {
	Service  string
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	events   *prometheus.CounterVec
}

// NewMetrics makes a registry with the Go and process collectors and the
// shared metrics, labelled with the service name.
func NewMetrics(service string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"service": service}
	m := &Metrics{
		Service:  service,
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "todo_http_requests_total", Help: "HTTP requests served, by route pattern, method and status.", ConstLabels: labels,
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "todo_http_request_duration_seconds", Help: "HTTP request duration, by route pattern.", ConstLabels: labels,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "todo_events_handled_total", Help: "Events handled, by topic, event type and outcome (stored, duplicate, retry, dropped, ...).", ConstLabels: labels,
		}, []string{"topic", "event_type", "outcome"}),
	}
	reg.MustRegister(m.requests, m.duration, m.events)
	return m
}

// Event counts one handled event. Safe on a nil *Metrics.
func (m *Metrics) Event(topic, eventType, outcome string) {
	if m != nil {
		m.events.WithLabelValues(topic, eventType, outcome).Inc()
	}
}

// Instrument counts and times the requests of next by their ServeMux
// pattern (not their path, so ids do not explode the label set).
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpx.NewStatusWriter(w)
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.Status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// ServeMetrics serves /metrics on addr until ctx ends, and Go's
// /debug/pprof/ too with pprofOn (PPROF=true). An empty addr or "off"
// disables it.
func (m *Metrics) ServeMetrics(ctx context.Context, log *slog.Logger, addr string, pprofOn bool) error {
	if addr == "" || addr == "off" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	if pprofOn {
		// Profiling, only on the metrics port and only when asked for.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

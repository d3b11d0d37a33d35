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
	"go.opentelemetry.io/otel/trace"

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

// Instrument counts and times the requests of next. Every label comes from
// a closed set, whatever the request holds, so that no client can grow the
// series (each one lives as long as the process, and is on every scrape):
// the route is the ServeMux pattern that matched (not the path, so ids do
// not explode the label set), the method one of the standard ones or
// "other" (MethodLabel), the status one net/http knows or its class
// (StatusLabel). The request's span is renamed the same way.
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
		method := MethodLabel(r.Method)
		trace.SpanFromContext(r.Context()).SetName(method + " " + route)
		m.requests.WithLabelValues(route, method, StatusLabel(sw.Status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// MethodLabel is method as a label value: one of the methods of RFC 9110
// and PATCH, or "other". Go's server accepts any token as a method, up to
// the header limit.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// StatusLabel is an answer's status as a label value: the code when
// net/http knows it (about sixty), else its class ("5xx"), or "other"
// outside 100-599.
func StatusLabel(code int) string {
	switch {
	case http.StatusText(code) != "":
		return strconv.Itoa(code)
	case code >= 100 && code <= 599:
		return strconv.Itoa(code/100) + "xx"
	}
	return "other"
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

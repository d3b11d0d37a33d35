package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/evolution-todo/todo/internal/buildinfo"
)

// TracingConfig is the trace exporter's part of a binary's configuration.
// The exporter reads the other standard OTEL_EXPORTER_OTLP_* variables
// (headers, timeout) itself.
type TracingConfig struct {
	Endpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT" check:"url" log:"url"`
	TracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" check:"url" log:"url"`
}

// SetupTracing installs the W3C trace-context propagator and a tracer
// provider for service. Spans are exported over OTLP/HTTP when c has an
// endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT wins over
// OTEL_EXPORTER_OTLP_ENDPOINT), with the exporter's standard environment
// variables; otherwise they only carry trace ids into logs and onward calls.
// The returned function flushes and stops the provider.
func SetupTracing(ctx context.Context, service string, log *slog.Logger, c TracingConfig) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	res := resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", buildinfo.Version),
	)
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	endpoint := c.TracesEndpoint
	if endpoint == "" {
		endpoint = c.Endpoint
	}
	if endpoint != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		log.Info("exporting traces", "endpoint", endpoint)
	} else {
		// Nothing to export to: spans are not recorded, only their ids
		// made and passed on (log lines, the outbox's traceparent, the
		// calls to the sidecar keep one trace id per change). Recording
		// them cost web-app about a fifth of its CPU per event.
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// TraceHandler continues the trace of incoming requests (the traceparent
// header Dapr sets on deliveries and invocations) in a server span. The
// span is named by the method's label until Metrics.Instrument, once the
// route is known, renames it "<method> <route pattern>": never after the
// path or a made-up method, which would make every request a span name of
// its own.
func TraceHandler(service string, next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, service,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return MethodLabel(r.Method) }),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" }),
	)
}

// PublicTraceHandler is TraceHandler for a public port: a traceparent
// sent by a browser or an API client is not continued (it would let
// anyone pick the trace ids of our logs and events, or join their
// requests to another's trace); each request starts a trace of its own,
// linked to the one it came with.
// Baggage from outside is dropped too: it would ride along on every call
// to the sidecar.
func PublicTraceHandler(service string, next http.Handler) http.Handler {
	h := otelhttp.NewHandler(next, service,
		otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return MethodLabel(r.Method) }),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Baggage")
		h.ServeHTTP(w, r)
	})
}

// Transport propagates the current trace to the callee (the sidecar), so
// publishes and invocations continue it.
func Transport(base http.RoundTripper) http.RoundTripper { return otelhttp.NewTransport(base) }

// Inject returns the traceparent of ctx's span ("" when there is none), to
// be stored with work done later, such as an outbox row.
func Inject(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// Package service is the skeleton every binary shares: signal handling, the
// logger, and the configuration common to all Dapr apps.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/evolution-todo/todo/internal/buildinfo"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/logging"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Main runs run with a context cancelled on SIGINT/SIGTERM and a logger
// made from LOG_LEVEL and LOG_FORMAT, and exits 1 when it fails. It is all
// a cmd/<binary>/main.go does.
func Main(name string, run func(ctx context.Context, log *slog.Logger, args []string) error) {
	os.Exit(start(name, config.Environ(), os.Args[1:], os.Stderr, run))
}

// start is Main without the process: it returns the exit code. The
// logger's and the tracer's settings are read first, so that an invalid
// LOG_LEVEL is refused before anything is logged; run reads the rest.
func start(name string, environ map[string]string, args []string, stderr io.Writer,
	run func(ctx context.Context, log *slog.Logger, args []string) error) int {
	var early struct {
		Log     logging.Config
		Tracing telemetry.TracingConfig
	}
	if err := Load(&early, environ); err != nil {
		_, _ = fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logging.New(stderr, name, early.Log)
	shutdown, err := telemetry.SetupTracing(ctx, name, log, early.Tracing)
	if err == nil {
		err = run(ctx, log, args)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = shutdown(sctx)
		cancel()
	}
	if err != nil {
		log.Error(name+" failed", "err", err)
		return 1
	}
	return 0
}

// Load fills cfg, a pointer to a binary's Config with its own defaults
// preset, from environ (config.Environ() outside tests). The error names
// every bad variable and what it accepts.
func Load(cfg any, environ map[string]string) error {
	if err := config.Parse(cfg, environ); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// Starting logs that name starts: its version and cfg, every variable of it
// with the secrets masked.
func Starting(log *slog.Logger, name string, cfg any) {
	log.Info("starting "+name, "version", buildinfo.Version, "config", config.LogValue(cfg))
}

// Common is the configuration every Dapr app reads. APP_ADDR has no
// default here: each binary presets its own port (todo-api :8090, audit
// :8091, recurring :8092, reminder :8093, notifier :8094, web-app :8095)
// before Load.
type Common struct {
	Log     logging.Config          // LOG_LEVEL, LOG_FORMAT
	Tracing telemetry.TracingConfig // OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT

	// AppAddr is the app port: what the sidecar calls (subscriptions,
	// deliveries, invocations, the cron binding, its health checks) and
	// the platform's probes. No Service port or Ingress may expose it.
	AppAddr      string `env:"APP_ADDR" check:"addr"`
	DaprEndpoint string `env:"DAPR_HTTP_ENDPOINT" check:"url" log:"url"`          // wins over DAPR_HTTP_PORT
	DaprPort     int    `env:"DAPR_HTTP_PORT" envDefault:"3500" check:"1..65535"` // sidecar on 127.0.0.1
	DaprAPIToken string `env:"DAPR_API_TOKEN" log:"secret"`                       // sent to the sidecar
	AppAPIToken  string `env:"APP_API_TOKEN" log:"secret"`                        // required on calls from the sidecar, this app's own
	PubSub       string `env:"PUBSUB_NAME" envDefault:"kafka-pubsub"`             // events.PubSubName
	MetricsAddr  string `env:"METRICS_ADDR" envDefault:":9464" check:"addr|off"`
	PProf        bool   `env:"PPROF"` // Go's /debug/pprof/ on the metrics port
	// MaxConnections bounds the open connections of each port (each one a
	// goroutine); more wait until one closes. Per-address connection limits
	// belong to the ingress in front.
	MaxConnections int `env:"MAX_CONNECTIONS" envDefault:"20000" check:"1..1000000"`
}

// Public is the configuration of an app that people reach (todo-api,
// web-app): its public port, the one its Service and Ingress expose.
// HTTP_ADDR has no default here: each binary presets its own.
type Public struct {
	HTTPAddr string `env:"HTTP_ADDR" check:"addr"`
}

// PublicAddr is HTTP_ADDR.
func (p Public) PublicAddr() string { return p.HTTPAddr }

// Database is the PostgreSQL database of the services that have one.
type Database struct {
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/todo?sslmode=disable" log:"url"`
}

// DaprHTTP is the sidecar's HTTP API: DAPR_HTTP_ENDPOINT, or else
// http://127.0.0.1:$DAPR_HTTP_PORT.
func (c Common) DaprHTTP() string {
	if c.DaprEndpoint != "" {
		return c.DaprEndpoint
	}
	return "http://127.0.0.1:" + strconv.Itoa(c.DaprPort)
}

// Dapr returns a client for the app's sidecar.
func (c Common) Dapr() *dapr.Client { return dapr.New(c.DaprHTTP(), c.DaprAPIToken) }

// LogValue logs the common configuration with secrets masked. A binary logs
// its whole Config with Starting; this keeps a Config logged by mistake
// from showing its secrets.
func (c Common) LogValue() slog.Value { return config.LogValue(c) }

// Handlers are what an app serves, by audience, each on a port of its own.
type Handlers struct {
	// App is for the app's own sidecar and the platform's probes, served on
	// APP_ADDR. It continues the trace of each request (Dapr sets
	// traceparent on deliveries and invocations).
	App http.Handler
	// Public is for people and API clients, served on HTTP_ADDR; nil for
	// an app without one (the consumers). A trace that a client sends is
	// not continued there: each request starts its own, linked to it.
	Public http.Handler
}

// Serve serves h.App on c.AppAddr, h.Public (when not nil) on publicAddr
// and the metrics on METRICS_ADDR until ctx ends. Every answer on either
// port says X-Content-Type-Options: nosniff.
func Serve(ctx context.Context, log *slog.Logger, c Common, publicAddr string, m *telemetry.Metrics, h Handlers) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type served struct {
		what string
		err  error
	}
	done := make(chan served, 3)
	n := 0
	run := func(what string, f func() error) {
		n++
		go func() {
			err := f()
			if err != nil {
				cancel() // a port that cannot be had is a misconfiguration: stop
			}
			done <- served{what, err}
		}()
	}
	run("metrics", func() error { return m.ServeMetrics(ctx, log.With("port", "metrics"), c.MetricsAddr, c.PProf) })
	run("app port", func() error {
		return httpx.Serve(ctx, log.With("port", "app"), c.AppAddr, c.MaxConnections, httpx.NoSniff(telemetry.TraceHandler(m.Service, h.App)))
	})
	if h.Public != nil {
		run("public port", func() error {
			return httpx.Serve(ctx, log.With("port", "public"), publicAddr, c.MaxConnections, httpx.NoSniff(telemetry.PublicTraceHandler(m.Service, h.Public)))
		})
	}
	var errs []error
	for range n {
		if s := <-done; s.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, s.err))
		}
	}
	return errors.Join(errs...)
}

// Shared is the common part of a binary's Config (which embeds Common).
func (c Common) Shared() Common { return c }

// Builder makes a Dapr app's handlers from its configuration, with its
// metrics; close (nil for none) is called once serving has ended.
type Builder[C any] func(ctx context.Context, cfg C, log *slog.Logger, m *telemetry.Metrics) (h Handlers, close func(), err error)

// App is the run function (for Main) of a Dapr app: it loads the
// configuration with load, logs it (secrets masked), warns when the
// sidecar-only routes are open, builds the handlers and serves them with
// the metrics until ctx ends. An app with a public handler has Public in
// its configuration (HTTP_ADDR).
func App[C interface{ Shared() Common }](name string, load func(environ map[string]string) (C, error), build Builder[C]) func(ctx context.Context, log *slog.Logger, args []string) error {
	return func(ctx context.Context, log *slog.Logger, _ []string) error {
		return runApp(ctx, log, name, config.Environ(), load, build)
	}
}

func runApp[C interface{ Shared() Common }](ctx context.Context, log *slog.Logger, name string, environ map[string]string,
	load func(map[string]string) (C, error), build Builder[C]) error {
	cfg, err := load(environ)
	if err != nil {
		return err
	}
	c := cfg.Shared()
	Starting(log, name, cfg)
	c.WarnIfOpen(log)
	m := telemetry.NewMetrics(name)
	h, closeApp, err := build(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	if closeApp != nil {
		defer closeApp()
	}
	var public string
	if p, ok := any(cfg).(interface{ PublicAddr() string }); ok {
		public = p.PublicAddr()
	}
	if h.Public != nil && public == "" {
		return fmt.Errorf("%s: a public handler needs HTTP_ADDR (service.Public in its Config)", name)
	}
	return Serve(ctx, log, c, public, m, h)
}

// WarnIfOpen logs a warning when sidecar-only routes are not protected.
func (c Common) WarnIfOpen(log *slog.Logger) {
	if c.AppAPIToken == "" {
		log.Warn("APP_API_TOKEN is not set: the app port's routes, meant for the Dapr sidecar, accept any caller")
	}
}

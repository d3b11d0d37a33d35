// Package service is the skeleton every binary shares: signal handling, the
// logger, and the configuration common to all Dapr apps.
package service

import (
	"context"
	"fmt"
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
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/logging"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Main runs run with a context cancelled on SIGINT/SIGTERM and a JSON
// logger, and exits 1 when it fails. It is all a cmd/<binary>/main.go does.
func Main(name string, run func(ctx context.Context, log *slog.Logger, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := logging.New(os.Stderr, name)
	shutdown, err := telemetry.SetupTracing(ctx, name, log)
	if err == nil {
		err = run(ctx, log, os.Args[1:])
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = shutdown(sctx)
		cancel()
	}
	stop()
	if err != nil {
		log.Error(name+" failed", "err", err)
		os.Exit(1)
	}
}

// DefaultDatabaseURL is the local PostgreSQL server's todo database, the
// default DATABASE_URL of the services that use one.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/todo?sslmode=disable"

// Common is the configuration every Dapr app reads.
type Common struct {
	HTTPAddr     string // HTTP_ADDR
	DaprHTTP     string // DAPR_HTTP_ENDPOINT, or http://127.0.0.1:$DAPR_HTTP_PORT (3500)
	DaprAPIToken string // DAPR_API_TOKEN: sent to the sidecar
	AppAPIToken  string // APP_API_TOKEN: required on calls from the sidecar
	PubSub       string // PUBSUB_NAME, default kafka-pubsub
	MetricsAddr  string // METRICS_ADDR, default :9464 ("off" disables)
}

// LoadCommon reads the common configuration; defaultAddr is the app's port.
func LoadCommon(r *config.Reader, defaultAddr string) Common {
	c := Common{
		HTTPAddr:     r.String("HTTP_ADDR", defaultAddr),
		DaprHTTP:     r.String("DAPR_HTTP_ENDPOINT", ""),
		DaprAPIToken: r.String("DAPR_API_TOKEN", ""),
		AppAPIToken:  r.String("APP_API_TOKEN", ""),
		PubSub:       r.String("PUBSUB_NAME", events.PubSubName),
		MetricsAddr:  r.String("METRICS_ADDR", ":9464"),
	}
	if c.DaprHTTP == "" {
		c.DaprHTTP = "http://127.0.0.1:" + strconv.Itoa(r.Int("DAPR_HTTP_PORT", 3500, 1, 65535))
	}
	return c
}

// Dapr returns a client for the app's sidecar.
func (c Common) Dapr() *dapr.Client { return dapr.New(c.DaprHTTP, c.DaprAPIToken) }

// LogValue logs the configuration with secrets masked.
func (c Common) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("version", buildinfo.Version),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("dapr_http", c.DaprHTTP),
		slog.String("dapr_api_token", config.Mask(c.DaprAPIToken)),
		slog.String("app_api_token", config.Mask(c.AppAPIToken)),
		slog.String("pubsub", c.PubSub),
		slog.String("metrics_addr", c.MetricsAddr),
	)
}

// Serve serves the app's handler on HTTP_ADDR and its metrics on
// METRICS_ADDR until ctx ends.
func Serve(ctx context.Context, log *slog.Logger, c Common, m *telemetry.Metrics, h http.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	metricsErr := make(chan error, 1)
	go func() {
		err := m.ServeMetrics(ctx, log, c.MetricsAddr)
		if err != nil {
			cancel() // a metrics port that cannot be had is a misconfiguration: stop
		}
		metricsErr <- err
	}()
	err := httpx.Serve(ctx, log, c.HTTPAddr, telemetry.TraceHandler(m.Service, h))
	cancel()
	if merr := <-metricsErr; err == nil && merr != nil {
		err = fmt.Errorf("metrics: %w", merr)
	}
	return err
}

// WarnIfOpen logs a warning when sidecar-only routes are not protected.
func (c Common) WarnIfOpen(log *slog.Logger) {
	if c.AppAPIToken == "" {
		log.Warn("APP_API_TOKEN is not set: routes meant for the Dapr sidecar accept any caller")
	}
}

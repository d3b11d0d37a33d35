package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/telemetry"
)

func TestStartRefusesABadLoggerConfig(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LOG_LEVEL": "verbose"},
			"audit-service: configuration: LOG_LEVEL=\"verbose\": must be one of debug, info, warn, error\n"},
		{map[string]string{"LOG_FORMAT": "yaml"},
			"audit-service: configuration: LOG_FORMAT=\"yaml\": must be one of json, text\n"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
			"audit-service: configuration: OTEL_EXPORTER_OTLP_ENDPOINT=\"collector:4318\": must be an absolute http(s) URL"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		ran := false
		code := start("audit-service", tt.env, nil, &stderr, func(context.Context, *slog.Logger, []string) error {
			ran = true
			return nil
		})
		if code != 1 || ran {
			t.Errorf("%v: exit %d, run called: %v; want exit 1 before run", tt.env, code, ran)
		}
		if !strings.HasPrefix(stderr.String(), tt.want) {
			t.Errorf("%v: stderr %q, want %q", tt.env, stderr.String(), tt.want)
		}
	}
}

func TestStartLoggerFollowsConfig(t *testing.T) {
	var stderr bytes.Buffer
	code := start("x-service", map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "text"}, []string{"a"}, &stderr,
		func(_ context.Context, log *slog.Logger, args []string) error {
			log.Debug("debug line", "args", args)
			return nil
		})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := stderr.String(); !strings.Contains(got, `level=DEBUG msg="debug line" service=x-service args=[a]`) {
		t.Errorf("want a text debug line, got %q", got)
	}

	stderr.Reset()
	code = start("x-service", map[string]string{"LOG_LEVEL": "warn"}, nil, &stderr,
		func(_ context.Context, log *slog.Logger, _ []string) error {
			log.Info("hidden")
			return errors.New("boom")
		})
	got := stderr.String()
	if code != 1 || strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"x-service failed","service":"x-service","err":"boom"`) {
		t.Errorf("exit %d, stderr %q: want exit 1, a JSON error line and no info line", code, got)
	}
}

func TestDaprHTTP(t *testing.T) {
	if got := (Common{DaprPort: 3501}).DaprHTTP(); got != "http://127.0.0.1:3501" {
		t.Errorf("from the port: %s", got)
	}
	if got := (Common{DaprPort: 3501, DaprEndpoint: "http://sidecar:3500"}).DaprHTTP(); got != "http://sidecar:3500" {
		t.Errorf("the endpoint wins: %s", got)
	}
}

func TestCommonLogValueMasks(t *testing.T) {
	got := Common{DaprAPIToken: "dapr-secret", AppAPIToken: "app-secret", HTTPAddr: ":1"}.LogValue().String()
	if strings.Contains(got, "secret") || !strings.Contains(got, "HTTP_ADDR=:1") {
		t.Errorf("Common logs %s", got)
	}
}

func TestAppServesTheBuiltHandlerThenCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	load := func(environ map[string]string) (Common, error) {
		c := Common{HTTPAddr: addr}
		return c, Load(&c, environ)
	}
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runApp(ctx, log, "test-app", map[string]string{"METRICS_ADDR": "off"}, load, func(_ context.Context, c Common, _ *slog.Logger, m *telemetry.Metrics) (http.Handler, func(), error) {
			if c.HTTPAddr != addr || c.MetricsAddr != "off" {
				t.Errorf("build got %+v, want the loaded configuration", c)
			}
			if m == nil || m.Service != "test-app" {
				t.Errorf("metrics %+v, want the app's", m)
			}
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("built")) }),
				func() { close(closed) }, nil
		})
	}()
	var body []byte
	for i := 0; i < 100; i++ {
		resp, err := http.Get("http://" + addr + "/x")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(body) != "built" {
		t.Fatalf("served %q, want the built handler's answer", body)
	}
	select {
	case <-closed:
		t.Fatal("closed while serving")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-closed:
	default:
		t.Fatal("the close function was not called after serving")
	}
	if !strings.Contains(logs.String(), `"msg":"starting test-app"`) || !strings.Contains(logs.String(), "APP_API_TOKEN is not set") {
		t.Errorf("no start line or open-routes warning in %s", logs.String())
	}
}

func TestAppReturnsTheLoadAndBuildErrors(t *testing.T) {
	load := func(environ map[string]string) (Common, error) {
		c := Common{HTTPAddr: ":1"}
		return c, Load(&c, environ)
	}
	want := errors.New("no database")
	build := func(context.Context, Common, *slog.Logger, *telemetry.Metrics) (http.Handler, func(), error) {
		return nil, nil, want
	}
	log := slog.New(slog.DiscardHandler)
	if err := runApp(context.Background(), log, "x", nil, load, build); !errors.Is(err, want) {
		t.Errorf("build failing: %v, want %v", err, want)
	}
	err := runApp(context.Background(), log, "x", map[string]string{"DAPR_HTTP_PORT": "0"}, load, build)
	if err == nil || !strings.Contains(err.Error(), `DAPR_HTTP_PORT="0"`) {
		t.Errorf("bad configuration: %v, want it named", err)
	}
}

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

	"github.com/evolution-todo/todo/internal/httpx"
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
	got := Common{DaprAPIToken: "dapr-secret", AppAPIToken: "app-secret", AppAddr: ":1"}.LogValue().String()
	if strings.Contains(got, "secret") || !strings.Contains(got, "APP_ADDR=:1") {
		t.Errorf("Common logs %s", got)
	}
}

// testConfig is the Config of an app with a public port.
type testConfig struct {
	Common
	Public
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	for range 100 {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body), resp.Header
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
	return "", nil
}

// Each handler is served on its own port, with nosniff on every answer;
// the app's close runs once serving has ended.
func TestAppServesEachHandlerOnItsPortThenCloses(t *testing.T) {
	appAddr, publicAddr := freeAddr(t), freeAddr(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	load := func(environ map[string]string) (testConfig, error) {
		c := testConfig{Common: Common{AppAddr: appAddr}, Public: Public{HTTPAddr: publicAddr}}
		return c, Load(&c, environ)
	}
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan struct{})
	done := make(chan error, 1)
	answer := func(s string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(s)) })
	}
	go func() {
		done <- runApp(ctx, log, "test-app", map[string]string{"METRICS_ADDR": "off"}, load, func(_ context.Context, c testConfig, _ *slog.Logger, m *telemetry.Metrics) (Handlers, func(), error) {
			if c.AppAddr != appAddr || c.HTTPAddr != publicAddr || c.MetricsAddr != "off" {
				t.Errorf("build got %+v, want the loaded configuration", c)
			}
			if m == nil || m.Service != "test-app" {
				t.Errorf("metrics %+v, want the app's", m)
			}
			return Handlers{App: answer("app"), Public: answer("public")}, func() { close(closed) }, nil
		})
	}()
	for addr, want := range map[string]string{appAddr: "app", publicAddr: "public"} {
		body, h := get(t, "http://"+addr+"/x")
		if body != want || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s served %q (%v), want %q with nosniff", addr, body, h, want)
		}
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

// A public trace is not continued: a client's traceparent does not become
// the request's trace, while the sidecar's on the app port does.
func TestOnlyTheAppPortContinuesTraces(t *testing.T) {
	appAddr, publicAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The tracer provider every binary has (service.Main sets it up).
	shutdown, err := telemetry.SetupTracing(ctx, "x", slog.New(slog.DiscardHandler), telemetry.TracingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = shutdown(context.Background()) }()
	traceOf := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(httpx.TraceID(r))) })
	go func() {
		_ = Serve(ctx, slog.New(slog.DiscardHandler), Common{AppAddr: appAddr, MetricsAddr: "off"}, publicAddr,
			telemetry.NewMetrics("x"), Handlers{App: traceOf, Public: traceOf})
	}()
	const trace = "0af7651916cd43dd8448eb211c80319c"
	for addr, same := range map[string]bool{appAddr: true, publicAddr: false} {
		get(t, "http://"+addr+"/")
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Header.Set("traceparent", "00-"+trace+"-b7ad6b7169203331-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (string(body) == trace) != same || len(body) != 32 {
			t.Errorf("%s: trace %q for a request of trace %s; want continued: %v", addr, body, trace, same)
		}
	}
}

func TestAppReturnsTheLoadAndBuildErrors(t *testing.T) {
	load := func(environ map[string]string) (Common, error) {
		c := Common{AppAddr: ":1"}
		return c, Load(&c, environ)
	}
	want := errors.New("no database")
	build := func(context.Context, Common, *slog.Logger, *telemetry.Metrics) (Handlers, func(), error) {
		return Handlers{}, nil, want
	}
	log := slog.New(slog.DiscardHandler)
	if err := runApp(context.Background(), log, "x", nil, load, build); !errors.Is(err, want) {
		t.Errorf("build failing: %v, want %v", err, want)
	}
	err := runApp(context.Background(), log, "x", map[string]string{"DAPR_HTTP_PORT": "0"}, load, build)
	if err == nil || !strings.Contains(err.Error(), `DAPR_HTTP_PORT="0"`) {
		t.Errorf("bad configuration: %v, want it named", err)
	}
	// A public handler from an app whose Config has no public port.
	public := func(context.Context, Common, *slog.Logger, *telemetry.Metrics) (Handlers, func(), error) {
		return Handlers{App: http.NotFoundHandler(), Public: http.NotFoundHandler()}, nil, nil
	}
	if err := runApp(context.Background(), log, "x", map[string]string{"METRICS_ADDR": "off"}, load, public); err == nil || !strings.Contains(err.Error(), "HTTP_ADDR") {
		t.Errorf("a public handler without HTTP_ADDR: %v", err)
	}
}

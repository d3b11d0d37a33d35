package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
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

package service_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/evolution-todo/todo/internal/audit"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/notifier"
	"github.com/evolution-todo/todo/internal/recurring"
	"github.com/evolution-todo/todo/internal/reminder"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/todoapi"
	"github.com/evolution-todo/todo/internal/web"
)

// binary is one binary's configuration loader, what it needs to start and
// the defaults of its own variables.
type binary struct {
	name     string
	load     func(map[string]string) (any, error)
	needs    map[string]string // the least environment it starts with
	defaults map[string]string // today's defaults, as logged, of its own variables
}

const jwtSecret = "secret-jwt-0123456789abcdef0123456789"

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/todo?sslmode=disable"

func loader[C any](load func(map[string]string) (C, error)) func(map[string]string) (any, error) {
	return func(m map[string]string) (any, error) { c, err := load(m); return c, err }
}

var binaries = []binary{
	{"todo-api", loader(todoapi.LoadConfig), map[string]string{"JWT_SECRET": jwtSecret}, map[string]string{
		"HTTP_ADDR": ":8080", "APP_ADDR": ":8090", "DATABASE_URL": defaultDatabaseURL, "MIGRATE_ON_START": "true",
		"OUTBOX_POLL_INTERVAL": "5s", "OUTBOX_BATCH_SIZE": "100", "DB_MAX_CONNS": "16",
		"AUDIT_APP_ID": "audit-service", "NOTIFIER_APP_ID": "notification-service",
		"JWT_SECRET": "***", "JWT_JWKS_URL": "", "JWT_ISSUER": "", "JWT_AUDIENCE": "", "JWT_LEEWAY": "30s",
		"RATE_LIMIT_WRITES_PER_SECOND": "20", "RATE_LIMIT_BURST": "40",
		"WEB_TOKEN_ISSUER": "", "WEB_TOKEN_AUDIENCE": "todo-api", "WEB_TOKEN_JWKS_URL": "", "WEB_APP_ID": "web-app",
	}},
	{"audit-service", loader(audit.LoadConfig), nil, map[string]string{
		"APP_ADDR": ":8091", "DATABASE_URL": defaultDatabaseURL,
	}},
	{"recurring-service", loader(recurring.LoadConfig), nil, map[string]string{
		"APP_ADDR": ":8092", "TODO_APP_ID": "todo-api",
	}},
	{"reminder-service", loader(reminder.LoadConfig), nil, map[string]string{
		"APP_ADDR": ":8093", "TODO_APP_ID": "todo-api",
	}},
	{"notification-service", loader(notifier.LoadConfig), nil, map[string]string{
		"APP_ADDR": ":8094", "STATE_STORE_NAME": "statestore",
	}},
	{"web-app", loader(web.LoadConfig), map[string]string{"DEV_SIGNIN": "true", "COOKIE_KEYS": cookieKey, "API_TOKEN_KEYS": tokenKey}, map[string]string{
		"HTTP_ADDR": ":8085", "APP_ADDR": ":8095", "PUBLIC_URL": "http://127.0.0.1:8085", "TODO_API_URL": "http://127.0.0.1:8080",
		"STATE_STORE_NAME": "statestore", "LIVE_PUBSUB_NAME": "live-pubsub",
		"API_TOKEN_KEYS": "***", "API_TOKEN_ISSUER": "todo-web-app", "API_TOKEN_AUDIENCE": "todo-api", "API_TOKEN_TTL": "5m0s",
		"COOKIE_KEYS": "***", "DEV_SIGNIN": "true",
		"OIDC_ISSUER": "", "OIDC_CLIENT_ID": "", "OIDC_CLIENT_SECRET": "", "OIDC_PROVIDER_NAME": "your identity provider",
		"OIDC_SCOPES": "openid profile email", "SESSION_TTL": "12h0m0s", "STREAMS_PER_USER": "8", "STREAMS_PER_CLIENT": "64",
		"MAX_STREAMS": "10000", "STREAM_HEARTBEAT": "15s", "STREAM_RECHECK": "1m0s", "STREAM_SESSION_GRACE": "2m0s",
		"SIGNIN_RATE_PER_MINUTE": "10", "SIGNIN_BURST": "20", "STREAM_OPEN_RATE_PER_MINUTE": "60", "STREAM_OPEN_BURST": "30",
		"TRUSTED_PROXIES": "",
	}},
}

const (
	cookieKey = "secret-cookie-0123456789abcdef0123456789"
	tokenKey  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// commonDefaults are today's defaults of the variables every binary reads.
var commonDefaults = map[string]string{
	"LOG_LEVEL": "info", "LOG_FORMAT": "json",
	"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
	"DAPR_HTTP_ENDPOINT": "", "DAPR_HTTP_PORT": "3500", "DAPR_API_TOKEN": "", "APP_API_TOKEN": "",
	"PUBSUB_NAME": events.PubSubName, "METRICS_ADDR": ":9464", "PPROF": "false", "MAX_CONNECTIONS": "20000",
}

// logged is what config.LogValue shows of cfg, by variable.
func logged(cfg any) map[string]string {
	m := map[string]string{}
	for _, a := range config.LogValue(cfg).Group() {
		m[a.Key] = a.Value.String()
	}
	return m
}

// keys are cfg's variables as env itself finds them.
func keys(t *testing.T, cfg any) []string {
	t.Helper()
	ptr := reflect.New(reflect.TypeOf(cfg)) // env wants a pointer to the struct
	ptr.Elem().Set(reflect.ValueOf(cfg))
	params, err := env.GetFieldParamsWithOptions(ptr.Interface(), env.Options{Environment: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range params {
		out = append(out, p.Key)
	}
	return out
}

func TestDefaultsAreTodays(t *testing.T) {
	for _, b := range binaries {
		t.Run(b.name, func(t *testing.T) {
			cfg, err := b.load(b.needs)
			if err != nil {
				t.Fatal(err)
			}
			want := maps.Clone(commonDefaults)
			maps.Copy(want, b.defaults)
			if got := logged(cfg); !maps.Equal(got, want) {
				t.Errorf("defaults\n got %v\nwant %v", got, want)
			}
			if got := cfg.(interface{ DaprHTTP() string }).DaprHTTP(); got != "http://127.0.0.1:3500" {
				t.Errorf("sidecar %s, want http://127.0.0.1:3500", got)
			}
		})
	}
}

// A valid value of every variable; secrets (and URL passwords) contain
// "secret-" and must never be logged.
var valid = map[string]string{
	"LOG_LEVEL": "debug", "LOG_FORMAT": "text",
	"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/v1/traces",
	"HTTP_ADDR":                          "127.0.0.1:18080", "APP_ADDR": "127.0.0.1:18090",
	"DAPR_HTTP_ENDPOINT": "http://sidecar:3501", "DAPR_HTTP_PORT": "3555",
	"DAPR_API_TOKEN": "secret-dapr", "APP_API_TOKEN": "secret-app", "PUBSUB_NAME": "other-pubsub",
	"METRICS_ADDR": "off", "PPROF": "true", "MAX_CONNECTIONS": "500",
	"DATABASE_URL":     "postgres://app:secret-db@db.example.com:5432/todo?sslmode=require",
	"MIGRATE_ON_START": "false", "OUTBOX_POLL_INTERVAL": "7s", "OUTBOX_BATCH_SIZE": "250", "DB_MAX_CONNS": "32",
	"AUDIT_APP_ID": "audit-x", "NOTIFIER_APP_ID": "notifier-x",
	"JWT_SECRET": jwtSecret, "JWT_JWKS_URL": "https://idp.example.com/jwks.json", "JWT_ISSUER": "iss-x",
	"JWT_AUDIENCE": "aud-x", "JWT_LEEWAY": "45s", "RATE_LIMIT_WRITES_PER_SECOND": "2.5", "RATE_LIMIT_BURST": "5",
	"TODO_APP_ID": "todo-x", "STATE_STORE_NAME": "store-x",
	"WEB_TOKEN_ISSUER": "web-x", "WEB_TOKEN_AUDIENCE": "aud-web", "WEB_TOKEN_JWKS_URL": "http://web-app:8095/.well-known/jwks.json",
	"WEB_APP_ID": "web-x",
	"PUBLIC_URL": "http://localhost:18085", "TODO_API_URL": "http://todo-api:8080", "LIVE_PUBSUB_NAME": "live-x",
	"API_TOKEN_KEYS": tokenKey, "API_TOKEN_ISSUER": "iss-web", "API_TOKEN_AUDIENCE": "aud-x", "API_TOKEN_TTL": "2m",
	"COOKIE_KEYS": cookieKey, "DEV_SIGNIN": "true", "OIDC_ISSUER": "", "OIDC_CLIENT_ID": "web", "OIDC_CLIENT_SECRET": "secret-oidc",
	"OIDC_PROVIDER_NAME": "Example ID", "OIDC_SCOPES": "openid email", "SESSION_TTL": "1h", "STREAMS_PER_USER": "4",
	"STREAMS_PER_CLIENT": "16", "MAX_STREAMS": "500", "STREAM_HEARTBEAT": "20s", "STREAM_RECHECK": "30s",
	"STREAM_SESSION_GRACE": "90s", "SIGNIN_RATE_PER_MINUTE": "5", "SIGNIN_BURST": "6", "STREAM_OPEN_RATE_PER_MINUTE": "30",
	"STREAM_OPEN_BURST": "12", "TRUSTED_PROXIES": "10.0.0.0/8",
}

// masked are the variables logged masked, and how.
var masked = map[string]string{
	"DAPR_API_TOKEN": "***", "APP_API_TOKEN": "***", "JWT_SECRET": "***", "API_TOKEN_KEYS": "***", "COOKIE_KEYS": "***",
	"OIDC_CLIENT_SECRET": "***", "API_TOKEN_TTL": "2m0s", "SESSION_TTL": "1h0m0s", "STREAM_RECHECK": "30s", "STREAM_SESSION_GRACE": "1m30s",
	"DATABASE_URL": "postgres://app:***@db.example.com:5432/todo?sslmode=require",
}

func TestEveryVariableIsLoggedSecretsMasked(t *testing.T) {
	for _, b := range binaries {
		t.Run(b.name, func(t *testing.T) {
			cfg, err := b.load(valid)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			service.Starting(slog.New(slog.NewJSONHandler(&buf, nil)), b.name, cfg)
			var line struct {
				Msg    string
				Config map[string]any
			}
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			if line.Msg != "starting "+b.name {
				t.Errorf("msg %q", line.Msg)
			}
			got := logged(cfg)
			vars := keys(t, cfg)
			if len(vars) != len(line.Config) || len(vars) != len(got) {
				t.Errorf("%d variables, %d logged: %v", len(vars), len(line.Config), slices.Sorted(maps.Keys(line.Config)))
			}
			for _, k := range vars {
				v, ok := valid[k]
				if !ok {
					t.Errorf("%s: add a valid value to this test", k)
					continue
				}
				if _, ok := line.Config[k]; !ok {
					t.Errorf("%s is not logged", k)
				}
				want := v
				if m, ok := masked[k]; ok {
					want = m
				}
				if got[k] != want {
					t.Errorf("%s=%q logged as %q, want %q", k, v, got[k], want)
				}
			}
			if strings.Contains(buf.String(), "secret-") {
				t.Errorf("a secret is logged: %s", buf.String())
			}
		})
	}
}

// Each invalid value of each shared variable stops every binary's start
// with a message naming the variable and what it accepts.
func TestEveryBinaryRefusesBadCommonValues(t *testing.T) {
	tests := []struct{ key, value, accepts string }{
		{"LOG_LEVEL", "verbose", "one of debug, info, warn, error"},
		{"LOG_LEVEL", "info+2", "one of debug, info, warn, error"},
		{"LOG_FORMAT", "yaml", "one of json, text"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "an absolute http(s) URL"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/v1/traces", "an absolute http(s) URL"},
		{"APP_ADDR", "8080", "host:port, such as :8080 or 127.0.0.1:8080"},
		{"APP_ADDR", ":99999", "host:port"},
		{"DAPR_HTTP_ENDPOINT", "127.0.0.1:3500", "an absolute http(s) URL"},
		{"DAPR_HTTP_PORT", "0", "an integer from 1 to 65535"},
		{"DAPR_HTTP_PORT", "70000", "an integer from 1 to 65535"},
		{"DAPR_HTTP_PORT", "dapr", "an integer from 1 to 65535"},
		{"METRICS_ADDR", "none", "host:port, such as :9464 or 127.0.0.1:9464, or off"},
		{"PPROF", "yes", "true or false"},
	}
	for _, b := range binaries {
		for _, tt := range tests {
			t.Run(b.name+"/"+tt.key+"="+tt.value, func(t *testing.T) {
				m := maps.Clone(b.needs)
				if m == nil {
					m = map[string]string{}
				}
				m[tt.key] = tt.value
				_, err := b.load(m)
				want := "configuration: " + tt.key + "=\"" + tt.value + "\": must be " + tt.accepts
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("err = %v, want %q", err, want)
				}
			})
		}
	}
}

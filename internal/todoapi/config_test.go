package todoapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
)

func TestLoadConfig(t *testing.T) {
	secret := strings.Repeat("s", 32)
	jwks := "https://idp.example.com/.well-known/jwks.json"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", map[string]string{"JWT_SECRET": secret}, ""},
		{"JWKS only", map[string]string{"JWT_JWKS_URL": jwks}, ""},
		{"secret and JWKS", map[string]string{"JWT_SECRET": secret, "JWT_JWKS_URL": jwks}, ""},
		{"neither secret nor JWKS", map[string]string{}, "one of JWT_SECRET or JWT_JWKS_URL is required"},
		{"short secret", map[string]string{"JWT_SECRET": "short"}, "at least 32 bytes"},
		{"short secret with JWKS", map[string]string{"JWT_SECRET": "short", "JWT_JWKS_URL": jwks}, "at least 32 bytes"},
		{"relative JWKS URL", map[string]string{"JWT_JWKS_URL": "/jwks.json"}, "JWT_JWKS_URL"},
		{"JWKS URL not http", map[string]string{"JWT_JWKS_URL": "file:///etc/jwks.json"}, "JWT_JWKS_URL"},
		{"rate disabled", map[string]string{"JWT_SECRET": secret, "RATE_LIMIT_WRITES_PER_SECOND": "0"}, ""},
		{"negative rate", map[string]string{"JWT_SECRET": secret, "RATE_LIMIT_WRITES_PER_SECOND": "-1"}, "RATE_LIMIT_WRITES_PER_SECOND"},
		{"rate not a number", map[string]string{"JWT_SECRET": secret, "RATE_LIMIT_WRITES_PER_SECOND": "fast"}, "RATE_LIMIT_WRITES_PER_SECOND"},
		{"rate NaN", map[string]string{"JWT_SECRET": secret, "RATE_LIMIT_WRITES_PER_SECOND": "NaN"}, "RATE_LIMIT_WRITES_PER_SECOND"},
		{"burst 0", map[string]string{"JWT_SECRET": secret, "RATE_LIMIT_BURST": "0"}, "RATE_LIMIT_BURST"},
		{"bad poll", map[string]string{"JWT_SECRET": secret, "OUTBOX_POLL_INTERVAL": "soon"}, "OUTBOX_POLL_INTERVAL"},
		{"bad batch", map[string]string{"JWT_SECRET": secret, "OUTBOX_BATCH_SIZE": "0"}, "OUTBOX_BATCH_SIZE"},
		{"bad port", map[string]string{"JWT_SECRET": secret, "DAPR_HTTP_PORT": "70000"}, "DAPR_HTTP_PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(config.FromMap(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.HTTPAddr != ":8080" || cfg.DaprHTTP != "http://127.0.0.1:3500" || cfg.PubSub != "kafka-pubsub" || !cfg.MigrateOnStart {
					t.Errorf("defaults: %+v", cfg)
				}
				if cfg.JWT.JWKSURL != tt.env["JWT_JWKS_URL"] || string(cfg.JWT.Secret) != tt.env["JWT_SECRET"] {
					t.Errorf("JWT config: %+v", cfg.JWT)
				}
				wantRate := 20.0
				if tt.env["RATE_LIMIT_WRITES_PER_SECOND"] == "0" {
					wantRate = 0
				}
				if cfg.WriteRate != wantRate || cfg.WriteBurst != 40 {
					t.Errorf("write limit %v/s burst %d, want %v/s burst 40", cfg.WriteRate, cfg.WriteBurst, wantRate)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigLogMasksSecrets(t *testing.T) {
	cfg, err := LoadConfig(config.FromMap(map[string]string{
		"JWT_SECRET": "a-very-secret-value-of-32-bytes!!", "DATABASE_URL": "postgres://u:dbpass@h/db",
		"APP_API_TOKEN": "apptok", "DAPR_API_TOKEN": "daprtok",
	}))
	if err != nil {
		t.Fatal(err)
	}
	logged := cfg.LogValue().String()
	for _, secret := range []string{"a-very-secret", "dbpass", "apptok", "daprtok"} {
		if strings.Contains(logged, secret) {
			t.Errorf("logged config shows %q: %s", secret, logged)
		}
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := LoadConfig(config.FromMap(map[string]string{"OUTBOX_BATCH_SIZE": "0", "RATE_LIMIT_WRITES_PER_SECOND": "x"}))
	for _, want := range []string{"OUTBOX_BATCH_SIZE", "RATE_LIMIT_WRITES_PER_SECOND", "JWT_SECRET", "JWT_JWKS_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want one mentioning %s", err, want)
		}
	}
}

func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("JWT_SECRET", "")
	t.Setenv("JWT_JWKS_URL", "https://idp.example.com/.well-known/jwks.json")
	var out bytes.Buffer
	err := Run(ctx, log, []string{"token", "-user", "alice"}, &out)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET is required") {
		t.Errorf("token with JWKS only: err = %v, want JWT_SECRET is required", err)
	}
	t.Setenv("JWT_SECRET", strings.Repeat("s", 32))
	if err := Run(ctx, log, []string{"token", "-user", "alice"}, &out); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(strings.TrimSpace(out.String())); err != nil || sub != "alice" {
		t.Errorf("minted token: %q, %v", sub, err)
	}
}

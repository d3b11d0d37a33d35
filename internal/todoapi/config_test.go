package todoapi

import (
	"strings"
	"testing"

	"github.com/evolution-todo/todo/internal/config"
)

func TestLoadConfig(t *testing.T) {
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", map[string]string{"JWT_SECRET": secret}, ""},
		{"no secret", map[string]string{}, "JWT_SECRET is required"},
		{"short secret", map[string]string{"JWT_SECRET": "short"}, "at least 32 bytes"},
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

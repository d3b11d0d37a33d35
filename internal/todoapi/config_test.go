package todoapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
)

// The variables every binary shares, their defaults and the masked log are
// tested for every binary in package service; these are todo-api's own.

var secret = strings.Repeat("s", 32)

func TestLoadConfig(t *testing.T) {
	jwks := "https://idp.example.com/.well-known/jwks.json"
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"defaults", map[string]string{"JWT_SECRET": secret}},
		{"JWKS only", map[string]string{"JWT_JWKS_URL": jwks}},
		{"secret and JWKS", map[string]string{"JWT_SECRET": secret, "JWT_JWKS_URL": jwks}},
		{"blank values are unset", map[string]string{"JWT_SECRET": " " + secret + " ", "OUTBOX_BATCH_SIZE": " ", "JWT_LEEWAY": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			want := auth.Config{Secret: []byte(strings.TrimSpace(tt.env["JWT_SECRET"])), JWKSURL: tt.env["JWT_JWKS_URL"],
				Leeway: 30 * time.Second}
			if got := cfg.JWT.Auth(); string(got.Secret) != string(want.Secret) || got.JWKSURL != want.JWKSURL || got.Leeway != want.Leeway {
				t.Errorf("JWT config: %+v, want %+v", got, want)
			}
			if cfg.HTTPAddr != ":8080" || cfg.OutboxBatch != 100 {
				t.Errorf("defaults: %+v", cfg)
			}
		})
	}
}

func TestLoadConfigValues(t *testing.T) {
	cfg, err := LoadConfig(map[string]string{
		"JWT_SECRET": secret, "JWT_ISSUER": "iss", "JWT_AUDIENCE": "aud", "JWT_LEEWAY": "1m",
		"MIGRATE_ON_START": "false", "OUTBOX_POLL_INTERVAL": "2s", "OUTBOX_BATCH_SIZE": "1000", "DB_MAX_CONNS": "2",
		"AUDIT_APP_ID": "a", "NOTIFIER_APP_ID": "n", "RATE_LIMIT_WRITES_PER_SECOND": "0", "RATE_LIMIT_BURST": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Common: cfg.Common, Public: cfg.Public, Database: cfg.Database, MigrateOnStart: false, OutboxPoll: 2 * time.Second,
		OutboxBatch: 1000, DBMaxConns: 2, AuditAppID: "a", NotifierAppID: "n",
		JWT:       JWTConfig{Secret: secret, Issuer: "iss", Audience: "aud", Leeway: time.Minute},
		WebTokens: WebTokenConfig{Audience: "todo-api", AppID: "web-app"},
		WriteRate: 0, WriteBurst: 1}
	if cfg != want {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
}

// Each invalid value of each of todo-api's variables stops the start with
// a message naming the variable and what it accepts.
func TestLoadConfigRefusesEachBadValue(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"MIGRATE_ON_START", "maybe", `MIGRATE_ON_START="maybe": must be true or false`},
		{"OUTBOX_POLL_INTERVAL", "soon", `OUTBOX_POLL_INTERVAL="soon": must be a positive duration such as 5s or 1m`},
		{"OUTBOX_POLL_INTERVAL", "0s", `OUTBOX_POLL_INTERVAL="0s": must be a positive duration`},
		{"OUTBOX_POLL_INTERVAL", "-1s", `OUTBOX_POLL_INTERVAL="-1s": must be a positive duration`},
		{"OUTBOX_BATCH_SIZE", "0", `OUTBOX_BATCH_SIZE="0": must be an integer from 1 to 1000`},
		{"OUTBOX_BATCH_SIZE", "1001", `OUTBOX_BATCH_SIZE="1001": must be an integer from 1 to 1000`},
		{"OUTBOX_BATCH_SIZE", "many", `OUTBOX_BATCH_SIZE="many": must be an integer from 1 to 1000`},
		{"DB_MAX_CONNS", "1", `DB_MAX_CONNS="1": must be an integer from 2 to 1000`},
		{"DB_MAX_CONNS", "1001", `DB_MAX_CONNS="1001": must be an integer from 2 to 1000`},
		{"RATE_LIMIT_WRITES_PER_SECOND", "-1", `RATE_LIMIT_WRITES_PER_SECOND="-1": must be a number >= 0`},
		{"RATE_LIMIT_WRITES_PER_SECOND", "fast", `RATE_LIMIT_WRITES_PER_SECOND="fast": must be a number >= 0`},
		{"RATE_LIMIT_WRITES_PER_SECOND", "NaN", `RATE_LIMIT_WRITES_PER_SECOND="NaN": must be a number >= 0`},
		{"RATE_LIMIT_WRITES_PER_SECOND", "Inf", `RATE_LIMIT_WRITES_PER_SECOND="Inf": must be a number >= 0`},
		{"RATE_LIMIT_BURST", "0", `RATE_LIMIT_BURST="0": must be an integer from 1 to 1000000`},
		{"RATE_LIMIT_BURST", "1000001", `RATE_LIMIT_BURST="1000001": must be an integer from 1 to 1000000`},
		{"JWT_LEEWAY", "0s", `JWT_LEEWAY="0s": must be a positive duration`},
		{"JWT_LEEWAY", "30", `JWT_LEEWAY="30": must be a positive duration`},
		{"JWT_SECRET", "short", "JWT_SECRET must be at least 32 bytes"},
		{"JWT_JWKS_URL", "/jwks.json", `JWT_JWKS_URL="/jwks.json": must be an absolute http(s) URL`},
		{"JWT_JWKS_URL", "file:///etc/jwks.json", `JWT_JWKS_URL="file:///etc/jwks.json": must be an absolute http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			env := map[string]string{"JWT_SECRET": secret, tt.key: tt.value}
			_, err := LoadConfig(env)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "configuration: ") {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigNeedsAWayToVerifyTokens(t *testing.T) {
	for _, env := range []map[string]string{nil, {"JWT_SECRET": "  "}, {"JWT_ISSUER": "iss"}} {
		_, err := LoadConfig(env)
		if err == nil || !strings.Contains(err.Error(), "one of JWT_SECRET, JWT_JWKS_URL or WEB_TOKEN_ISSUER is required") {
			t.Errorf("%v: err = %v", env, err)
		}
	}
	// web-app's tokens alone are enough; but never under the provider's issuer.
	if _, err := LoadConfig(map[string]string{"WEB_TOKEN_ISSUER": "todo-web-app"}); err != nil {
		t.Errorf("web-app's tokens alone: %v", err)
	}
	if _, err := LoadConfig(map[string]string{"JWT_SECRET": secret, "JWT_ISSUER": "same", "WEB_TOKEN_ISSUER": "same"}); err == nil ||
		!strings.Contains(err.Error(), `WEB_TOKEN_ISSUER="same": must differ from JWT_ISSUER`) {
		t.Errorf("one issuer for both: %v", err)
	}
}

// web-app's keys are read through the sidecar by default, with the
// sidecar's token; EdDSA only, at most WebMaxTTL long.
func TestWebTokensThroughTheSidecar(t *testing.T) {
	cfg, err := LoadConfig(map[string]string{"WEB_TOKEN_ISSUER": "todo-web-app", "DAPR_HTTP_PORT": "3555", "DAPR_API_TOKEN": "tok"})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.webAuth()
	if a.JWKSURL != "http://127.0.0.1:3555/v1.0/invoke/web-app/method/.well-known/jwks.json" || a.JWKSHeader.Get("Dapr-Api-Token") != "tok" ||
		a.Issuer != "todo-web-app" || a.Audience != "todo-api" || len(a.Algorithms) != 1 || a.Algorithms[0] != "EdDSA" || a.MaxTTL != WebMaxTTL {
		t.Errorf("web-app's verifier: %+v", a)
	}
	cfg, err = LoadConfig(map[string]string{"WEB_TOKEN_ISSUER": "w", "WEB_TOKEN_JWKS_URL": "https://web.example.com/jwks.json", "DAPR_API_TOKEN": "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.webAuth(); a.JWKSURL != "https://web.example.com/jwks.json" || a.JWKSHeader != nil {
		t.Errorf("a configured URL gets no sidecar token: %+v", a)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := LoadConfig(map[string]string{"OUTBOX_BATCH_SIZE": "0", "RATE_LIMIT_WRITES_PER_SECOND": "x", "LOG_LEVEL": "loud"})
	for _, want := range []string{"OUTBOX_BATCH_SIZE=", "RATE_LIMIT_WRITES_PER_SECOND=", "LOG_LEVEL=", "JWT_SECRET", "JWT_JWKS_URL", "WEB_TOKEN_ISSUER"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want one mentioning %s", err, want)
		}
	}
}

func TestTokenCommand(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out bytes.Buffer
	err := run(ctx, log, []string{"token", "-user", "alice"}, map[string]string{"JWT_JWKS_URL": "https://idp.example.com/jwks.json"}, &out)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET is required") {
		t.Errorf("token with JWKS only: err = %v, want JWT_SECRET is required", err)
	}
	err = run(ctx, log, []string{"token", "-user", "alice"}, map[string]string{"JWT_SECRET": secret, "JWT_LEEWAY": "x"}, &out)
	if err == nil || !strings.Contains(err.Error(), `JWT_LEEWAY="x"`) {
		t.Errorf("token with a bad JWT_LEEWAY: err = %v", err)
	}
	env := map[string]string{"JWT_SECRET": secret, "JWT_ISSUER": "iss", "JWT_AUDIENCE": "aud"}
	if err := run(ctx, log, []string{"token", "-user", "alice"}, env, &out); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Secret: []byte(secret), Issuer: "iss", Audience: "aud"})
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(strings.TrimSpace(out.String())); err != nil || sub != "alice" {
		t.Errorf("minted token: %q, %v", sub, err)
	}
}

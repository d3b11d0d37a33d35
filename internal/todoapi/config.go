// Package todoapi wires todo-api together: configuration, database,
// migrations, the HTTP server and the outbox relay.
package todoapi

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
)

// Config is todo-api's configuration, read from the environment once.
type Config struct {
	service.Common   // HTTP_ADDR (default :8080), DAPR_*, APP_API_TOKEN, PUBSUB_NAME, LOG_*, ...
	service.Database // DATABASE_URL

	MigrateOnStart bool          `env:"MIGRATE_ON_START" envDefault:"true"`
	OutboxPoll     time.Duration `env:"OUTBOX_POLL_INTERVAL" envDefault:"5s"`
	OutboxBatch    int           `env:"OUTBOX_BATCH_SIZE" envDefault:"100" check:"1..1000"`
	DBMaxConns     int           `env:"DB_MAX_CONNS" envDefault:"16" check:"2..1000"`
	AuditAppID     string        `env:"AUDIT_APP_ID" envDefault:"audit-service"`
	NotifierAppID  string        `env:"NOTIFIER_APP_ID" envDefault:"notification-service"`
	JWT            JWTConfig
	WriteRate      float64 `env:"RATE_LIMIT_WRITES_PER_SECOND" envDefault:"20" check:">=0"` // per user; 0 disables
	WriteBurst     int     `env:"RATE_LIMIT_BURST" envDefault:"40" check:"1..1000000"`
}

// JWTConfig is the token settings, shared by the server and the token
// subcommand. check tells whether they are enough for the server.
type JWTConfig struct {
	Secret   string        `env:"JWT_SECRET" log:"secret"` // HS256 key, at least auth.MinSecretLen bytes
	JWKSURL  string        `env:"JWT_JWKS_URL" log:"url"`
	Issuer   string        `env:"JWT_ISSUER"`
	Audience string        `env:"JWT_AUDIENCE"`
	Leeway   time.Duration `env:"JWT_LEEWAY" envDefault:"30s"`
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{HTTPAddr: ":8080"}}
	if err := errors.Join(config.Parse(&c, environ), c.JWT.check()); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// Auth is the configuration of auth's verifier and minter.
func (j JWTConfig) Auth() auth.Config {
	return auth.Config{Secret: []byte(j.Secret), JWKSURL: j.JWKSURL, Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway}
}

// check requires one way of verifying tokens at least: a shared secret
// (HS256) or the JWKS of an identity provider (RS256, EdDSA), or both.
func (j JWTConfig) check() error {
	var errs []error
	if j.Secret == "" && j.JWKSURL == "" {
		errs = append(errs, errors.New("one of JWT_SECRET or JWT_JWKS_URL is required: JWT_SECRET is the HS256 key "+
			"shared with your token issuer, at least 32 bytes (try: openssl rand -hex 32); JWT_JWKS_URL is the JWKS URL "+
			"of your OIDC provider, for RS256 and EdDSA tokens"))
	}
	if j.Secret != "" && len(j.Secret) < auth.MinSecretLen {
		errs = append(errs, fmt.Errorf("JWT_SECRET must be at least %d bytes (try: openssl rand -hex 32)", auth.MinSecretLen))
	}
	if j.JWKSURL != "" {
		if u, err := url.Parse(j.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("JWT_JWKS_URL=%q: must be an absolute http(s) URL such as "+
				"https://idp.example.com/.well-known/jwks.json", j.JWKSURL))
		}
	}
	return errors.Join(errs...)
}

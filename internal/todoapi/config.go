// Package todoapi wires todo-api together: configuration, database,
// migrations, the HTTP server and the outbox relay.
package todoapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/contract/webapi"
	"github.com/evolution-todo/todo/internal/service"
)

// Config is todo-api's configuration, read from the environment once.
type Config struct {
	service.Common   // APP_ADDR (default :8090), DAPR_*, APP_API_TOKEN, PUBSUB_NAME, LOG_*, ...
	service.Public   // HTTP_ADDR (default :8080)
	service.Database // DATABASE_URL

	MigrateOnStart bool          `env:"MIGRATE_ON_START" envDefault:"true"`
	OutboxPoll     time.Duration `env:"OUTBOX_POLL_INTERVAL" envDefault:"5s"`
	OutboxBatch    int           `env:"OUTBOX_BATCH_SIZE" envDefault:"100" check:"1..1000"`
	DBMaxConns     int           `env:"DB_MAX_CONNS" envDefault:"16" check:"2..1000"`
	AuditAppID     string        `env:"AUDIT_APP_ID" envDefault:"audit-service"`
	NotifierAppID  string        `env:"NOTIFIER_APP_ID" envDefault:"notification-service"`
	JWT            JWTConfig
	WebTokens      WebTokenConfig
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
	c := Config{Common: service.Common{AppAddr: ":8090"}, Public: service.Public{HTTPAddr: ":8080"}}
	if err := errors.Join(config.Parse(&c, environ), c.checkTokens()); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// Auth is the configuration of auth's verifier and minter.
func (j JWTConfig) Auth() auth.Config {
	return auth.Config{Secret: []byte(j.Secret), JWKSURL: j.JWKSURL, Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway}
}

// WebTokenConfig is web-app's tokens: web-app signs a short-lived EdDSA
// token for each call its pages make, with a key of its own under its own
// issuer, and publishes the public keys (auth.Signer).
type WebTokenConfig struct {
	Issuer   string `env:"WEB_TOKEN_ISSUER"`                         // web-app's API_TOKEN_ISSUER; empty: web-app's tokens are refused
	Audience string `env:"WEB_TOKEN_AUDIENCE" envDefault:"todo-api"` // webapi.DefaultAudience
	// JWKSURL is where web-app's public keys are; by default they are read
	// through the sidecar (service invocation of WEB_APP_ID).
	JWKSURL string `env:"WEB_TOKEN_JWKS_URL" check:"url" log:"url"`
	AppID   string `env:"WEB_APP_ID" envDefault:"web-app"` // webapi.AppID
}

// WebMaxTTL is the longest life a token of web-app may claim.
const WebMaxTTL = 15 * time.Minute

// webAuth is the verifier configuration of web-app's tokens: EdDSA only,
// its issuer and audience, at most WebMaxTTL long, keys from its JWK Set
// (through the sidecar, with the sidecar's token, unless a URL is given).
func (c Config) webAuth() auth.Config {
	w := c.WebTokens
	a := auth.Config{Issuer: w.Issuer, Audience: w.Audience, Leeway: c.JWT.Leeway,
		Algorithms: []string{"EdDSA"}, MaxTTL: WebMaxTTL, JWKSURL: w.JWKSURL}
	if a.JWKSURL == "" {
		a.JWKSURL = c.DaprHTTP() + "/v1.0/invoke/" + url.PathEscape(w.AppID) + "/method/" + webapi.PathJWKS
		if c.DaprAPIToken != "" {
			a.JWKSHeader = http.Header{"Dapr-Api-Token": {c.DaprAPIToken}}
		}
	}
	return a
}

// checkTokens requires one kind of token at least: an identity provider's
// (a shared secret for HS256, its JWKS for RS256 and EdDSA, or both), or
// web-app's.
func (c Config) checkTokens() error {
	j := c.JWT
	var errs []error
	if j.Secret == "" && j.JWKSURL == "" && c.WebTokens.Issuer == "" {
		errs = append(errs, errors.New("one of JWT_SECRET, JWT_JWKS_URL or WEB_TOKEN_ISSUER is required: JWT_SECRET is the HS256 key "+
			"shared with your token issuer, at least 32 bytes (try: openssl rand -hex 32); JWT_JWKS_URL is the JWKS URL "+
			"of your OIDC provider, for RS256 and EdDSA tokens; WEB_TOKEN_ISSUER is web-app's API_TOKEN_ISSUER, for the pages' calls"))
	}
	if c.WebTokens.Issuer != "" && c.WebTokens.Issuer == j.Issuer {
		errs = append(errs, fmt.Errorf("WEB_TOKEN_ISSUER=%q: must differ from JWT_ISSUER: each issuer has its own keys", c.WebTokens.Issuer))
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

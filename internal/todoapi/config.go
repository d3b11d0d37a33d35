// Package todoapi wires todo-api together: configuration, database,
// migrations, the HTTP server and the outbox relay.
package todoapi

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
)

// Config is todo-api's configuration, read from the environment once.
type Config struct {
	service.Common               // HTTP_ADDR (default :8080), DAPR_*, APP_API_TOKEN, PUBSUB_NAME
	DatabaseURL    string        // DATABASE_URL
	MigrateOnStart bool          // MIGRATE_ON_START, default true
	OutboxPoll     time.Duration // OUTBOX_POLL_INTERVAL, default 5s
	OutboxBatch    int           // OUTBOX_BATCH_SIZE, default 100
	DBMaxConns     int           // DB_MAX_CONNS, default 16
	AuditAppID     string        // AUDIT_APP_ID, default audit-service
	NotifierAppID  string        // NOTIFIER_APP_ID, default notification-service
	JWT            auth.Config   // JWT_SECRET and/or JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY
	WriteRate      float64       // RATE_LIMIT_WRITES_PER_SECOND per user, default 20; 0 disables
	WriteBurst     int           // RATE_LIMIT_BURST, default 40
}

// LoadConfig reads the configuration; the error lists every bad variable.
func LoadConfig(r *config.Reader) (Config, error) {
	c := Config{
		Common:         service.LoadCommon(r, ":8080"),
		DatabaseURL:    r.String("DATABASE_URL", service.DefaultDatabaseURL),
		MigrateOnStart: r.Bool("MIGRATE_ON_START", true),
		OutboxPoll:     r.Duration("OUTBOX_POLL_INTERVAL", 5*time.Second),
		OutboxBatch:    r.Int("OUTBOX_BATCH_SIZE", 100, 1, 1000),
		DBMaxConns:     r.Int("DB_MAX_CONNS", 16, 2, 1000),
		AuditAppID:     r.String("AUDIT_APP_ID", "audit-service"),
		NotifierAppID:  r.String("NOTIFIER_APP_ID", "notification-service"),
	}
	c.JWT = JWTConfig(r)
	var rateErr error
	c.WriteRate, rateErr = nonNegativeFloat(r, "RATE_LIMIT_WRITES_PER_SECOND", 20)
	c.WriteBurst = r.Int("RATE_LIMIT_BURST", 40, 1, 1_000_000)
	if err := errors.Join(r.Err(), rateErr, checkJWT(c.JWT)); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// JWTConfig reads the token settings, shared by the server and the token
// subcommand. checkJWT tells whether they are enough for the server.
func JWTConfig(r *config.Reader) auth.Config {
	return auth.Config{
		Secret:   []byte(r.String("JWT_SECRET", "")),
		JWKSURL:  r.String("JWT_JWKS_URL", ""),
		Issuer:   r.String("JWT_ISSUER", ""),
		Audience: r.String("JWT_AUDIENCE", ""),
		Leeway:   r.Duration("JWT_LEEWAY", 30*time.Second),
	}
}

// checkJWT requires one way of verifying tokens at least: a shared secret
// (HS256) or the JWKS of an identity provider (RS256, EdDSA), or both.
func checkJWT(c auth.Config) error {
	var errs []error
	if len(c.Secret) == 0 && c.JWKSURL == "" {
		errs = append(errs, errors.New("one of JWT_SECRET or JWT_JWKS_URL is required: JWT_SECRET is the HS256 key "+
			"shared with your token issuer, at least 32 bytes (try: openssl rand -hex 32); JWT_JWKS_URL is the JWKS URL "+
			"of your OIDC provider, for RS256 and EdDSA tokens"))
	}
	if len(c.Secret) > 0 && len(c.Secret) < auth.MinSecretLen {
		errs = append(errs, fmt.Errorf("JWT_SECRET must be at least %d bytes (try: openssl rand -hex 32)", auth.MinSecretLen))
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("JWT_JWKS_URL=%q: must be an absolute http(s) URL such as "+
				"https://idp.example.com/.well-known/jwks.json", c.JWKSURL))
		}
	}
	return errors.Join(errs...)
}

// nonNegativeFloat reads a number >= 0, or def when unset.
func nonNegativeFloat(r *config.Reader, key string, def float64) (float64, error) {
	v := r.String(key, "")
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return def, fmt.Errorf("%s=%q: must be a number >= 0 (0 disables the limit)", key, v)
	}
	return f, nil
}

// LogValue logs the configuration with secrets masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Attr{Key: "common", Value: c.Common.LogValue()},
		slog.String("database_url", config.MaskURL(c.DatabaseURL)),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.String("audit_app_id", c.AuditAppID),
		slog.String("notifier_app_id", c.NotifierAppID),
		slog.Duration("outbox_poll", c.OutboxPoll),
		slog.Int("outbox_batch", c.OutboxBatch),
		slog.Int("db_max_conns", c.DBMaxConns),
		slog.String("jwt_secret", config.Mask(string(c.JWT.Secret))),
		slog.String("jwt_jwks_url", maskOptionalURL(c.JWT.JWKSURL)),
		slog.String("jwt_issuer", c.JWT.Issuer),
		slog.String("jwt_audience", c.JWT.Audience),
		slog.Float64("rate_limit_writes_per_second", c.WriteRate),
		slog.Int("rate_limit_burst", c.WriteBurst),
	)
}

func maskOptionalURL(s string) string {
	if s == "" {
		return ""
	}
	return config.MaskURL(s)
}

// Package todoapi wires todo-api together: configuration, database,
// migrations, the HTTP server and the outbox relay.
package todoapi

import (
	"fmt"
	"log/slog"
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
	AuditAppID     string        // AUDIT_APP_ID, default audit-service
	NotifierAppID  string        // NOTIFIER_APP_ID, default notification-service
	JWT            auth.Config   // JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY
}

// LoadConfig reads the configuration; the error lists every bad variable.
func LoadConfig(r *config.Reader) (Config, error) {
	c := Config{
		Common:         service.LoadCommon(r, ":8080"),
		DatabaseURL:    r.String("DATABASE_URL", service.DefaultDatabaseURL),
		MigrateOnStart: r.Bool("MIGRATE_ON_START", true),
		OutboxPoll:     r.Duration("OUTBOX_POLL_INTERVAL", 5*time.Second),
		OutboxBatch:    r.Int("OUTBOX_BATCH_SIZE", 100, 1, 1000),
		AuditAppID:     r.String("AUDIT_APP_ID", "audit-service"),
		NotifierAppID:  r.String("NOTIFIER_APP_ID", "notification-service"),
	}
	c.JWT = JWTConfig(r)
	if err := r.Err(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	if len(c.JWT.Secret) < auth.MinSecretLen {
		return c, fmt.Errorf("configuration: JWT_SECRET must be at least %d bytes (try: openssl rand -hex 32)", auth.MinSecretLen)
	}
	return c, nil
}

// JWTConfig reads the token settings, shared by the server and the token
// subcommand.
func JWTConfig(r *config.Reader) auth.Config {
	return auth.Config{
		Secret:   []byte(r.Required("JWT_SECRET", "the HS256 key for bearer tokens, at least 32 bytes")),
		Issuer:   r.String("JWT_ISSUER", ""),
		Audience: r.String("JWT_AUDIENCE", ""),
		Leeway:   r.Duration("JWT_LEEWAY", 30*time.Second),
	}
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
		slog.String("jwt_secret", config.Mask(string(c.JWT.Secret))),
		slog.String("jwt_issuer", c.JWT.Issuer),
		slog.String("jwt_audience", c.JWT.Audience),
	)
}

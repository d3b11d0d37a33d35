// Package todoapi wires todo-api together: configuration, database,
// migrations, the HTTP server and the outbox relay.
package todoapi

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/events"
)

// DefaultDatabaseURL is the local PostgreSQL server's todo database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/todo?sslmode=disable"

// Config is todo-api's configuration, read from the environment once.
type Config struct {
	HTTPAddr       string        // HTTP_ADDR, default :8080
	DatabaseURL    string        // DATABASE_URL
	MigrateOnStart bool          // MIGRATE_ON_START, default true
	DaprHTTP       string        // DAPR_HTTP_ENDPOINT, or http://127.0.0.1:$DAPR_HTTP_PORT (3500)
	DaprAPIToken   string        // DAPR_API_TOKEN
	PubSub         string        // PUBSUB_NAME, default kafka-pubsub
	OutboxPoll     time.Duration // OUTBOX_POLL_INTERVAL, default 5s
	OutboxBatch    int           // OUTBOX_BATCH_SIZE, default 100
	JWT            auth.Config   // JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY
}

// LoadConfig reads the configuration; the error lists every bad variable.
func LoadConfig(r *config.Reader) (Config, error) {
	c := Config{
		HTTPAddr:       r.String("HTTP_ADDR", ":8080"),
		DatabaseURL:    r.String("DATABASE_URL", DefaultDatabaseURL),
		MigrateOnStart: r.Bool("MIGRATE_ON_START", true),
		DaprHTTP:       r.String("DAPR_HTTP_ENDPOINT", ""),
		DaprAPIToken:   r.String("DAPR_API_TOKEN", ""),
		PubSub:         r.String("PUBSUB_NAME", events.PubSubName),
		OutboxPoll:     r.Duration("OUTBOX_POLL_INTERVAL", 5*time.Second),
		OutboxBatch:    r.Int("OUTBOX_BATCH_SIZE", 100, 1, 1000),
	}
	if c.DaprHTTP == "" {
		c.DaprHTTP = "http://127.0.0.1:" + strconv.Itoa(r.Int("DAPR_HTTP_PORT", 3500, 1, 65535))
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
		slog.String("http_addr", c.HTTPAddr),
		slog.String("database_url", config.MaskURL(c.DatabaseURL)),
		slog.Bool("migrate_on_start", c.MigrateOnStart),
		slog.String("dapr_http", c.DaprHTTP),
		slog.String("dapr_api_token", config.Mask(c.DaprAPIToken)),
		slog.String("pubsub", c.PubSub),
		slog.Duration("outbox_poll", c.OutboxPoll),
		slog.Int("outbox_batch", c.OutboxBatch),
		slog.String("jwt_secret", config.Mask(string(c.JWT.Secret))),
		slog.String("jwt_issuer", c.JWT.Issuer),
		slog.String("jwt_audience", c.JWT.Audience),
	)
}

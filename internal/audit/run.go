package audit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the audit service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	cfg, err := LoadConfig(config.Environ())
	if err != nil {
		return err
	}
	return service.Run(ctx, log, "audit-service", cfg.Common, cfg, func(m *telemetry.Metrics) (http.Handler, func(), error) {
		pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, nil, fmt.Errorf("database: %w", err)
		}
		if err := Migrate(ctx, pool, log); err != nil {
			pool.Close()
			return nil, nil, err
		}
		h := &Handler{Store: NewStore(pool), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken,
			Metrics: NewMetrics(m.Registry), Telemetry: m}
		return h.Routes(), pool.Close, nil
	})
}

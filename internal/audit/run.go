package audit

import (
	"context"
	"fmt"
	"log/slog"

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
	common := cfg.Common
	service.Starting(log, "audit-service", cfg)
	common.WarnIfOpen(log)

	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool, log); err != nil {
		return err
	}
	tm := telemetry.NewMetrics("audit-service")
	h := &Handler{Store: NewStore(pool), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken,
		Metrics: NewMetrics(tm.Registry), Telemetry: tm}
	return service.Serve(ctx, log, common, tm, h.Routes())
}

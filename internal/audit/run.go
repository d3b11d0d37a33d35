package audit

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/service"
)

// Run runs the audit service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	r := config.FromEnv()
	common := service.LoadCommon(r, ":8081")
	dbURL := r.String("DATABASE_URL", service.DefaultDatabaseURL)
	if err := r.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("starting audit-service", "config", common, "database_url", config.MaskURL(dbURL))
	common.WarnIfOpen(log)

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := Migrate(ctx, pool, log); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := &Handler{Store: NewStore(pool), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken,
		Metrics: NewMetrics(reg), Gatherer: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	return httpx.Serve(ctx, log, common.HTTPAddr, h.Routes())
}

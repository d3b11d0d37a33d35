package reminder

import (
	"context"
	"log/slog"
	"time"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the reminder service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	cfg, err := LoadConfig(config.Environ())
	if err != nil {
		return err
	}
	common, todoApp := cfg.Common, cfg.TodoAppID
	service.Starting(log, "reminder-service", cfg)
	common.WarnIfOpen(log)
	tm := telemetry.NewMetrics("reminder-service")
	s := &Service{Dapr: common.Dapr(), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken,
		TodoAppID: todoApp, Now: time.Now, Telemetry: tm, Metrics: NewMetrics(tm.Registry)}
	return service.Serve(ctx, log, common, tm, s.Routes())
}

package recurring

import (
	"context"
	"log/slog"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the recurring-task service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	cfg, err := LoadConfig(config.Environ())
	if err != nil {
		return err
	}
	common, todoApp := cfg.Common, cfg.TodoAppID
	service.Starting(log, "recurring-service", cfg)
	common.WarnIfOpen(log)
	tm := telemetry.NewMetrics("recurring-service")
	h := &Handler{Dapr: common.Dapr(), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken, TodoAppID: todoApp,
		Telemetry: tm}
	return service.Serve(ctx, log, common, tm, h.Routes())
}

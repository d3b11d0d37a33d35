package recurring

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the recurring-task service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	r := config.FromEnv()
	common := service.LoadCommon(r, ":8082")
	todoApp := r.String("TODO_APP_ID", "todo-api")
	if err := r.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("starting recurring-service", "config", common, "todo_app_id", todoApp)
	common.WarnIfOpen(log)
	tm := telemetry.NewMetrics("recurring-service")
	h := &Handler{Dapr: common.Dapr(), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken, TodoAppID: todoApp,
		Telemetry: tm}
	return service.Serve(ctx, log, common, tm, h.Routes())
}

package reminder

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the reminder service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	r := config.FromEnv()
	common := service.LoadCommon(r, ":8083")
	todoApp := r.String("TODO_APP_ID", "todo-api")
	if err := r.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("starting reminder-service", "config", common, "todo_app_id", todoApp)
	common.WarnIfOpen(log)
	tm := telemetry.NewMetrics("reminder-service")
	s := &Service{Dapr: common.Dapr(), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken,
		TodoAppID: todoApp, Now: time.Now, Telemetry: tm, Metrics: NewMetrics(tm.Registry)}
	return service.Serve(ctx, log, common, tm, s.Routes())
}

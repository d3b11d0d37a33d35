package recurring

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/service"
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
	h := &Handler{Dapr: common.Dapr(), Log: log, PubSub: common.PubSub, AppToken: common.AppAPIToken, TodoAppID: todoApp}
	return httpx.Serve(ctx, log, common.HTTPAddr, h.Routes())
}

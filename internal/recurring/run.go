package recurring

import (
	"context"
	"log/slog"
	"net/http"

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
	return service.Run(ctx, log, "recurring-service", cfg.Common, cfg, func(m *telemetry.Metrics) (http.Handler, func(), error) {
		h := &Handler{Dapr: cfg.Dapr(), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken, TodoAppID: cfg.TodoAppID,
			Telemetry: m}
		return h.Routes(), nil, nil
	})
}

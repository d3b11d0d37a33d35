package reminder

import (
	"context"
	"log/slog"
	"net/http"
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
	return service.Run(ctx, log, "reminder-service", cfg.Common, cfg, func(m *telemetry.Metrics) (http.Handler, func(), error) {
		s := &Service{Dapr: cfg.Dapr(), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken,
			TodoAppID: cfg.TodoAppID, Now: time.Now, Telemetry: m, Metrics: NewMetrics(m.Registry)}
		return s.Routes(), nil, nil
	})
}

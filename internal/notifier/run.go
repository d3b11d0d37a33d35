package notifier

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the notification service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	cfg, err := LoadConfig(config.Environ())
	if err != nil {
		return err
	}
	return service.Run(ctx, log, "notification-service", cfg.Common, cfg, func(m *telemetry.Metrics) (http.Handler, func(), error) {
		h := &Handler{State: cfg.Dapr(), StoreName: cfg.StateStore, Log: log, PubSub: cfg.PubSub,
			AppToken: cfg.AppAPIToken, Now: time.Now, Telemetry: m}
		return h.Routes(), nil, nil
	})
}

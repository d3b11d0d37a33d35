package notifier

import (
	"context"
	"log/slog"
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
	common, store := cfg.Common, cfg.StateStore
	service.Starting(log, "notification-service", cfg)
	common.WarnIfOpen(log)
	tm := telemetry.NewMetrics("notification-service")
	h := &Handler{State: common.Dapr(), StoreName: store, Log: log, PubSub: common.PubSub,
		AppToken: common.AppAPIToken, Now: time.Now, Telemetry: tm}
	return service.Serve(ctx, log, common, tm, h.Routes())
}

package notifier

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Run runs the notification service until ctx ends.
func Run(ctx context.Context, log *slog.Logger, _ []string) error {
	r := config.FromEnv()
	common := service.LoadCommon(r, ":8084")
	store := r.String("STATE_STORE_NAME", "statestore")
	if err := r.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log.Info("starting notification-service", "config", common, "state_store", store)
	common.WarnIfOpen(log)
	tm := telemetry.NewMetrics("notification-service")
	h := &Handler{State: common.Dapr(), StoreName: store, Log: log, PubSub: common.PubSub,
		AppToken: common.AppAPIToken, Now: time.Now, Telemetry: tm}
	return service.Serve(ctx, log, common, tm, h.Routes())
}

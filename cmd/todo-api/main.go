// Command todo-api serves the todo REST API and relays its outbox to the
// task-events topic through the Dapr sidecar.
package main

import (
	"context"
	"log/slog"
	"os"
	_ "time/tzdata" // IANA zones even in images without /usr/share/zoneinfo

	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/todoapi"
)

func main() {
	service.Main("todo-api", func(ctx context.Context, log *slog.Logger, args []string) error {
		return todoapi.Run(ctx, log, args, os.Stdout)
	})
}

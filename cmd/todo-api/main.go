// Command todo-api serves the todo REST API and relays its outbox to the
// task-events topic through the Dapr sidecar.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // IANA zones even in images without /usr/share/zoneinfo

	"github.com/evolution-todo/todo/internal/logging"
	"github.com/evolution-todo/todo/internal/todoapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logging.New(os.Stderr, "todo-api")
	if err := todoapi.Run(ctx, log, os.Args[1:], os.Stdout); err != nil {
		log.Error("todo-api failed", "err", err)
		os.Exit(1)
	}
}

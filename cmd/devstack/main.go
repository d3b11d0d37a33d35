// Command devstack starts the whole local system (dev broker, PostgreSQL,
// every service with its own daprd sidecar), prints where the API is and a
// token, streams every process's log lines prefixed with its name, and stops
// everything on Ctrl-C. `make run` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/evolution-todo/todo/internal/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := devstack.Launch(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

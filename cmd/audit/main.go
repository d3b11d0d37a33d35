// Command audit is the audit service (Dapr app-id audit-service): it logs
// and stores every event on task-events and serves a task's history.
package main

import (
	"github.com/evolution-todo/todo/internal/audit"
	"github.com/evolution-todo/todo/internal/service"
)

func main() { service.Main("audit-service", audit.Run) }

// Command recurring is the recurring-task service (Dapr app-id
// recurring-service): it creates the next occurrence of every completed
// recurring task, through todo-api.
package main

import (
	_ "time/tzdata" // IANA zones even in images without /usr/share/zoneinfo

	"github.com/evolution-todo/todo/internal/recurring"
	"github.com/evolution-todo/todo/internal/service"
)

func main() { service.Main("recurring-service", recurring.Run) }

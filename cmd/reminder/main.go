// Command reminder is the reminder service (Dapr app-id reminder-service):
// triggered by the reminder-cron binding, it publishes ReminderDue for every
// task whose reminder time has passed.
package main

import (
	"github.com/evolution-todo/todo/internal/reminder"
	"github.com/evolution-todo/todo/internal/service"
)

func main() { service.Main("reminder-service", reminder.Run) }

// Command notifier is the notification service (Dapr app-id
// notification-service): it delivers every ReminderDue once, to the user's
// inbox in the Dapr state store.
package main

import (
	"github.com/evolution-todo/todo/internal/notifier"
	"github.com/evolution-todo/todo/internal/service"
)

func main() { service.Main("notification-service", notifier.Run) }

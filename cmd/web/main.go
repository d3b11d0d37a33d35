// Command web is web-app (Dapr app-id web-app): the pages of the todo
// system, sign-in, and the live stream of each user's task changes and
// reminders.
package main

import (
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/web"
)

func main() { service.Main(web.AppID, web.Run) }

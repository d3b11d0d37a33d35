package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/evolution-todo/todo/client"
)

// A task's life through the API: create it, change it, read its history and
// the inbox, handle a refusal.
func Example() {
	ctx := context.Background()
	c := client.New("http://localhost:8080", os.Getenv("TODO_TOKEN"))

	due := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	t, err := c.CreateTask(ctx, client.NewTask{
		Title: "Pay the rent", Priority: client.PriorityHigh, DueAt: &due,
		Recurrence: client.RecurrenceMonthly, Timezone: "Europe/Berlin",
	})
	if err != nil {
		log.Fatal(err)
	}
	// Change the title and drop the due date; the rest stays.
	if _, err := c.UpdateTask(ctx, t.ID, client.TaskPatch{
		Title: client.Set("Pay the rent (by card)"), DueAt: client.Null[time.Time](),
	}); err != nil {
		log.Fatal(err)
	}
	// Every open task of high priority, page by page.
	q := client.ListQuery{Status: client.StatusOpen, Priority: client.PriorityHigh, Limit: 100}
	for {
		page, err := c.ListTasks(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range page.Tasks {
			fmt.Println(t.ID, t.Title)
		}
		if page.NextCursor == nil {
			break
		}
		q.Cursor = *page.NextCursor
	}
	h, err := c.History(ctx, t.ID, client.PageQuery{})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range h.Events {
		fmt.Println(e.Version, e.EventType)
	}
	inbox, err := c.Notifications(ctx, client.PageQuery{Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inbox.Unread, "unread")

	_, err = c.GetTask(ctx, 999999)
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound {
		fmt.Println("no such task:", apiErr.Code)
	}
}

// A TaskPatch sends only what is set; Null sends null.
func ExampleTaskPatch() {
	p := client.TaskPatch{
		Title:      client.Set("Water the plants"),
		Tags:       client.Set([]string{"home"}),
		ReminderAt: client.Null[time.Time](),
	}
	b, err := json.Marshal(p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output: {"title":"Water the plants","tags":["home"],"reminder_at":null}
}

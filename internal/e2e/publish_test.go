package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
)

// outboxIDs returns the outbox ids of a task's events, in outbox order.
func outboxIDs(t *testing.T, dbURL string, taskID int64) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id::text FROM outbox WHERE partition_key = $1 ORDER BY seq`, fmt.Sprint(taskID))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A third-party subscriber with its own sidecar receives every change of a
// task once, in order on Kafka (by version elsewhere: env.inOrder), as
// CloudEvents whose id is the outbox id and whose data holds the spec's
// fields.
func TestTaskChangesReachSubscriberInOrder(t *testing.T) {
	e := startSystem(t, "todo-api")
	sub := e.startViewer("task-events")

	tk := e.create(client.NewTask{Title: "Buy groceries", Recurrence: client.RecurrenceDaily})
	e.update(tk.ID, client.TaskPatch{Title: client.Set("Buy more groceries")})
	e.complete(tk.ID)
	e.reopen(tk.ID)
	e.del(tk.ID)

	want := []string{"TaskCreated", "TaskUpdated", "TaskCompleted", "TaskUpdated", "TaskDeleted"}
	eventually(t, 60*time.Second, "the subscriber has all 5 events", func() bool { return len(sub.forTask(tk.ID)) >= len(want) })
	time.Sleep(time.Second) // let any duplicate arrive before counting
	got := e.inOrder(sub.forTask(tk.ID))
	if len(got) != len(want) {
		t.Fatalf("subscriber got %d events for task %d, want exactly %d", len(got), tk.ID, len(want))
	}
	ids := outboxIDs(t, e.dbURL, tk.ID)
	if len(ids) != len(want) {
		t.Fatalf("outbox has %d events for the task, want %d", len(ids), len(want))
	}
	for i, d := range got {
		if d.ContentType != "application/cloudevents+json" {
			t.Errorf("event %d: Content-Type %q", i, d.ContentType)
		}
		// The spec's fields are under data, with their exact types.
		if d.Data["event_type"] != want[i] {
			t.Errorf("event %d: event_type %v, want %s (raw %s)", i, d.Data["event_type"], want[i], d.Raw)
		}
		if d.Data["task_id"] != float64(tk.ID) || d.Data["user_id"] != "alice" {
			t.Errorf("event %d: data %v", i, d.Data)
		}
		if _, ok := d.Data["timestamp"].(string); !ok {
			t.Errorf("event %d: no timestamp", i)
		}
		if _, wrapped := d.Data["data"]; wrapped {
			t.Errorf("event %d: CloudEvent wrapped twice: %s", i, d.Raw)
		}
		if d.Envelope["id"] != ids[i] {
			t.Errorf("event %d: CloudEvent id %v, outbox id %s", i, d.Envelope["id"], ids[i])
		}
		if d.Envelope["topic"] != "task-events" || d.Envelope["pubsubname"] != "kafka-pubsub" {
			t.Errorf("event %d: topic %v pubsub %v", i, d.Envelope["topic"], d.Envelope["pubsubname"])
		}
	}
	if got[2].Data["recurrence"] != "daily" || got[1].Data["title"] != "Buy more groceries" {
		t.Errorf("TaskCompleted %v / TaskUpdated %v", got[2].Data, got[1].Data)
	}
}

// With the sidecar down, writes still succeed (the outbox holds the events);
// when it is back, every pending event is delivered and none is published
// twice in the outbox's view.
func TestWritesSurviveSidecarOutage(t *testing.T) {
	e := startSystem(t, "todo-api")
	sub := e.startViewer("task-events")

	first := e.create(client.NewTask{Title: "before the outage"})
	eventually(t, 60*time.Second, "the first event arrives", func() bool { return len(sub.forTask(first.ID)) == 1 })

	e.sys.Instances["todo-api"].Daprd.Kill()
	var during []client.Task
	for i := range 5 {
		tk := e.create(client.NewTask{Title: fmt.Sprintf("during the outage %d", i)})
		e.complete(tk.ID)
		during = append(during, tk)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pending int
	eventually(t, 20*time.Second, "the relay has failed to publish at least once", func() bool {
		var failed int
		_ = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FILTER (WHERE last_error IS NOT NULL) FROM outbox`).Scan(&pending, &failed)
		return failed > 0
	})
	if pending != 10 {
		t.Fatalf("pending events during the outage: %d, want 10", pending)
	}

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := e.sys.StartDaprd(startCtx, e.sys.Instances["todo-api"]); err != nil {
		t.Fatal(err)
	}
	for _, tk := range during {
		eventually(t, 90*time.Second, fmt.Sprintf("task %d's events arrive", tk.ID), func() bool { return len(sub.forTask(tk.ID)) >= 2 })
	}
	time.Sleep(time.Second)
	for _, tk := range during {
		got := e.inOrder(sub.forTask(tk.ID))
		if len(got) != 2 || got[0].Data["event_type"] != "TaskCreated" || got[1].Data["event_type"] != "TaskCompleted" {
			var types []any
			for _, d := range got {
				types = append(types, d.Data["event_type"])
			}
			t.Errorf("task %d: got %d events %v, want TaskCreated then TaskCompleted once each", tk.ID, len(got), types)
		}
	}
	var unpublished, republished int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FILTER (WHERE publish_count > 1) FROM outbox`).Scan(&unpublished, &republished); err != nil {
		t.Fatal(err)
	}
	if unpublished != 0 || republished != 0 {
		t.Errorf("outbox: %d unpublished, %d published more than once", unpublished, republished)
	}
	if n := sub.count(); n != 11 {
		t.Errorf("subscriber got %d events in all, want 11", n)
	}
}

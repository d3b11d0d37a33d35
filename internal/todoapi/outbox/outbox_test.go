package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
)

// Add writes one row per event in the caller's transaction: a CloudEvent
// whose id is the row's, about the task, carrying the request's trace; a
// rolled-back transaction leaves nothing, and Pending lists rows in the
// order they were added.
func TestAddWritesTheEventInTheTransaction(t *testing.T) {
	pool := pgtest.NewPool(t)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	add := func(e outbox.Event, commit bool) {
		t.Helper()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := outbox.Add(ctx, tx, e); err != nil {
				return err
			}
			if !commit {
				return errRollback
			}
			return nil
		})
		if commit && err != nil || !commit && !errors.Is(err, errRollback) {
			t.Fatalf("add %+v: %v", e, err)
		}
	}
	first := events.TaskEvent{EventType: events.TaskCreated, TaskID: 42, UserID: "u", Title: "t", Timestamp: at, Tags: []string{}}
	add(outbox.Event{Topic: events.TopicTaskEvents, Type: events.TaskCreated, TaskID: 42, Time: at, Data: first}, true)
	add(outbox.Event{Topic: events.TopicTaskEvents, Type: events.TaskDeleted, TaskID: 42, Time: at, Data: first}, false)
	add(outbox.Event{Topic: events.TopicTaskEvents, Type: events.TaskCompleted, TaskID: 7, Time: at, Data: first}, true)

	msgs, err := outbox.Pending(ctx, pool, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Type != events.TaskCreated || msgs[1].Type != events.TaskCompleted || msgs[0].Seq >= msgs[1].Seq {
		t.Fatalf("pending = %+v, want TaskCreated then TaskCompleted (the rolled-back TaskDeleted not at all)", msgs)
	}
	m := msgs[0]
	if m.Topic != events.TopicTaskEvents || m.Key != "42" {
		t.Errorf("row topic %q key %q, want %q and 42", m.Topic, m.Key, events.TopicTaskEvents)
	}
	var ce map[string]any
	if err := json.Unmarshal(m.CloudEvent, &ce); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": m.ID, "source": outbox.Source, "type": events.CloudEventType(events.TaskCreated), "subject": "42",
		"time": "2026-01-02T03:04:05Z", "traceparent": "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01",
	}
	for k, v := range want {
		if ce[k] != v {
			t.Errorf("cloudevent %s = %#v, want %#v", k, ce[k], v)
		}
	}
	if data, _ := ce["data"].(map[string]any); data["task_id"] != float64(42) || data["event_type"] != events.TaskCreated {
		t.Errorf("cloudevent data = %v", ce["data"])
	}
	if _, _, err := events.DecodeTaskEvent(m.CloudEvent); err != nil {
		t.Errorf("the row is not a task event consumers accept: %v", err)
	}
	if msgs, err := outbox.Pending(ctx, pool, 1); err != nil || len(msgs) != 1 || msgs[0].ID != m.ID {
		t.Errorf("Pending(limit 1) = %+v, %v; want the first row only", msgs, err)
	}
}

var errRollback = errors.New("rollback")

// Package recurring is the recurring-task service: when a recurring task is
// completed it asks todo-api to create the next occurrence.
package recurring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Handler serves the recurring service's routes (all for the sidecar).
type Handler struct {
	Dapr      dapr.Invoker
	Log       *slog.Logger
	PubSub    string
	AppToken  string
	TodoAppID string             // app id of todo-api
	Telemetry *telemetry.Metrics // optional
}

// DeadLetterTopic receives task events that could not be handled.
const DeadLetterTopic = events.TopicTaskEvents + "-dlq"

// Routes returns the HTTP handler. A Dapr routing rule sends TaskCompleted
// to its handler; the default route acknowledges every other type: a
// subscription with a dead-letter topic and no matching route would send
// every other event to the dead-letter topic.
func (h *Handler) Routes() http.Handler {
	app := &consumer.App{
		Name: "recurring-service", PubSub: h.PubSub, AppToken: h.AppToken, Log: h.Log, Telemetry: h.Telemetry,
		Subscriptions: []consumer.Subscription{{
			Topic: events.TopicTaskEvents, Match: `event.data.event_type == "` + events.TaskCompleted + `"`,
			Path: "/events/task-completed", DeadLetterTopic: DeadLetterTopic,
			LogMessage: "recurring event", Handle: consumer.TaskEvents(h.completed),
		}, {
			Topic: events.TopicTaskEvents, Path: "/events/other", DeadLetterTopic: DeadLetterTopic, Raw: true, AckUnreadable: true,
			LogMessage: "recurring: not a completion, acknowledged", Handle: other,
		}},
	}
	return app.Handler()
}

// other acknowledges every event that is not a completion, whatever its
// body: audit-service is the one that dead-letters malformed events. Types
// this version does not know are counted as ignored, so that a producer
// ahead of this consumer shows on the metrics.
func other(_ context.Context, d *consumer.Delivery) error {
	var ce struct {
		ID   string `json:"id"`
		Data struct {
			EventType string `json:"event_type"`
		} `json:"data"`
	}
	_ = json.Unmarshal(d.Body, &ce) // what does not decode is of no known type
	d.ID, d.Type = ce.ID, ce.Data.EventType
	if !events.KnownTaskEventType(d.Type) {
		d.Ignore()
		return nil
	}
	d.KnownType(true)
	d.Outcome("skipped")
	return nil
}

// completed computes and requests the next occurrence of a completed task
// (recurrence.NextOccurrence: the series' anchor decides the date and time
// of day; a series without a due date runs on its reminder).
func (h *Handler) completed(ctx context.Context, d *consumer.Delivery, e events.TaskEvent) error {
	d.Log("recurrence", e.Recurrence)
	if e.EventType != events.TaskCompleted {
		return consumer.Permanentf("routed a %q event to the completions", e.EventType)
	}
	rule := recurrence.Rule(e.Recurrence)
	if rule == "" || rule == recurrence.None {
		d.Outcome("skipped")
		return nil
	}
	if e.CompletedAt == nil {
		return consumer.Permanentf("TaskCompleted without completed_at")
	}
	loc, err := time.LoadLocation(e.Timezone)
	if err != nil || e.Timezone == "" || e.Timezone == "Local" {
		return consumer.Permanentf("unknown time zone %q", e.Timezone)
	}
	occ, err := recurrence.NextOccurrence(e.DueAt, e.ReminderAt, e.RecurrenceAnchor, *e.CompletedAt, rule, loc)
	if err != nil {
		return consumer.Permanentf("cannot compute the next occurrence: %w", err)
	}
	d.Log("due_at", occ.DueAt, "reminder_at", occ.ReminderAt)
	todo := todointernal.Client{Dapr: h.Dapr, AppID: h.TodoAppID}
	id, created, err := todo.NextOccurrence(ctx, e.TaskID, todointernal.NextOccurrence{
		UserID: e.UserID, Title: e.Title, Description: e.Description, Priority: e.Priority, Tags: e.Tags,
		DueAt: occ.DueAt, ReminderAt: occ.ReminderAt, Recurrence: e.Recurrence, Timezone: e.Timezone,
		RecurrenceAnchor: occ.Anchor,
	})
	var refused *dapr.AppError
	if errors.As(err, &refused) && refused.Client() {
		// The request can never succeed (task unknown, invalid content).
		return consumer.Permanentf("todo-api refused the next occurrence: %w", err)
	}
	if err != nil {
		return fmt.Errorf("next occurrence: %w", err)
	}
	d.Log("next_task_id", id)
	if created {
		d.Outcome("created")
	} else {
		d.Outcome("already_created")
	}
	return nil
}

// New builds recurring-service's handler.
func New(_ context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (service.Handlers, func(), error) {
	h := &Handler{Dapr: cfg.Dapr(), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken, TodoAppID: cfg.TodoAppID,
		Telemetry: m}
	return service.Handlers{App: h.Routes()}, nil, nil
}

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

// completed computes and requests the next occurrence of a completed or
// skipped task (Next): the rule and the series' anchor decide the date and
// time of day; a series without a due date runs on its first absolute
// reminder.
func (h *Handler) completed(ctx context.Context, d *consumer.Delivery, e events.TaskEvent) error {
	d.Log("recurrence", e.Recurrence, "rrule", e.RRule, "skipped", e.Skipped)
	if e.EventType != events.TaskCompleted {
		return consumer.Permanentf("routed a %q event to the completions", e.EventType)
	}
	next, ok, err := Next(e)
	if err != nil {
		return consumer.Permanent(err)
	}
	if !ok {
		d.Outcome("skipped")
		return nil
	}
	d.Log("due_at", next.DueAt, "reminders", len(next.Reminders), "series_index", next.SeriesIndex, "last_in_series", next.LastInSeries)
	todo := todointernal.Client{Dapr: h.Dapr, AppID: h.TodoAppID}
	id, created, err := todo.NextOccurrence(ctx, e.TaskID, next)
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

// Next is the task that follows the occurrence a TaskCompleted closed
// (completed or skipped); false when none does: the task does not repeat,
// or its series ended (it was the last, or the rule has no occurrence
// after it). The error is one no redelivery can cure.
//
//   - The series runs on the due time, else on the earliest absolute
//     reminder, else (a simple repeat only) on the completion.
//   - A simple repeat from the due time is recurrence.NextOccurrence; from
//     completion, the same repeat anchored on the day of completion at the
//     anchor's time of day.
//   - An RRULE is recurrence.NextByRule, which gives the occurrence's
//     number and whether it is the last.
//   - Relative reminders stay as they are (todo-api computes their times
//     from the new due time); absolute ones move as the series' clock did.
func Next(e events.TaskEvent) (todointernal.NextOccurrence, bool, error) {
	rule := recurrence.Rule(e.Recurrence)
	switch {
	case e.RRule != nil && e.LastInSeries, e.RRule == nil && (rule == "" || rule == recurrence.None):
		return todointernal.NextOccurrence{}, false, nil
	case e.RRule == nil && !rule.Repeats():
		return todointernal.NextOccurrence{}, false, fmt.Errorf("unknown recurrence %q", e.Recurrence)
	}
	if e.Reminders == nil && e.ReminderAt != nil {
		// An event of the version before several reminders: its one
		// reminder is reminder_at.
		e.Reminders = []events.ReminderSpec{{At: e.ReminderAt}}
	}
	if e.CompletedAt == nil {
		return todointernal.NextOccurrence{}, false, errors.New("TaskCompleted without completed_at")
	}
	loc, err := time.LoadLocation(e.Timezone)
	if err != nil || e.Timezone == "" || e.Timezone == "Local" {
		return todointernal.NextOccurrence{}, false, fmt.Errorf("unknown time zone %q", e.Timezone)
	}
	closed := *e.CompletedAt
	from := recurrence.RepeatFrom(e.RepeatFrom)
	// The series' clock: the due time, else the first absolute reminder.
	clock, firstAbs := e.DueAt, firstAbsolute(e.Reminders)
	if clock == nil {
		clock = firstAbs
	}
	anchor := e.RecurrenceAnchor
	if anchor == nil {
		anchor = clock
	}
	out := todointernal.NextOccurrence{UserID: e.UserID, Title: e.Title, Description: e.Description, Priority: e.Priority,
		Tags: e.Tags, Recurrence: e.Recurrence, RRule: e.RRule, RepeatFrom: e.RepeatFrom, Timezone: e.Timezone}
	var next time.Time
	switch {
	case e.RRule != nil:
		r, err := recurrence.ParseRRule(*e.RRule)
		if err != nil {
			return out, false, fmt.Errorf("rrule %q: %w", *e.RRule, err)
		}
		if clock == nil || anchor == nil {
			return out, false, errors.New("a series with a rule has neither a due time nor an absolute reminder")
		}
		step, ok, err := recurrence.NextByRule(r, *anchor, *clock, max(e.SeriesIndex, 1), closed, from, loc)
		if err != nil || !ok {
			return out, false, err
		}
		next = step.At
		out.Recurrence = string(r.Freq.Rule())
		out.RecurrenceAnchor, out.SeriesIndex, out.LastInSeries = step.Anchor, step.Index, step.Last
	case from == recurrence.FromCompletion:
		// The simple repeat, restarted on the day of closing at the
		// anchor's time of day: a period after that day.
		a := clock
		if a == nil {
			a = &closed
		}
		if next, err = recurrence.NextFromCompletion(rule, *a, closed, loc); err != nil {
			return out, false, err
		}
		out.RecurrenceAnchor, out.SeriesIndex = next, max(e.SeriesIndex, 1)+1
	default:
		occ, err := recurrence.NextOccurrence(e.DueAt, firstAbs, e.RecurrenceAnchor, closed, rule, loc)
		if err != nil {
			return out, false, fmt.Errorf("cannot compute the next occurrence: %w", err)
		}
		switch {
		case occ.DueAt != nil:
			next = *occ.DueAt
		case occ.ReminderAt != nil:
			next = *occ.ReminderAt
		}
		out.RecurrenceAnchor, out.SeriesIndex = occ.Anchor, max(e.SeriesIndex, 1)+1
	}
	shift := time.Duration(0)
	if clock != nil {
		shift = next.Sub(*clock)
	}
	if e.DueAt != nil || clock == nil {
		n := next
		out.DueAt = &n
	}
	out.Reminders = make([]events.ReminderSpec, 0, len(e.Reminders))
	for _, r := range e.Reminders {
		if r.At != nil {
			at := r.At.Add(shift).UTC()
			r.At = &at
		}
		out.Reminders = append(out.Reminders, r)
	}
	return out, true, nil
}

// firstAbsolute is the earliest absolute reminder, or nil.
func firstAbsolute(rs []events.ReminderSpec) *time.Time {
	var first *time.Time
	for _, r := range rs {
		if r.At != nil && (first == nil || r.At.Before(*first)) {
			first = r.At
		}
	}
	return first
}

// New builds recurring-service's handler.
func New(_ context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (service.Handlers, func(), error) {
	h := &Handler{Dapr: cfg.Dapr(), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken, TodoAppID: cfg.TodoAppID,
		Telemetry: m}
	return service.Handlers{App: h.Routes()}, nil, nil
}

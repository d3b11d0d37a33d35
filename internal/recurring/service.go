// Package recurring is the recurring-task service: when a recurring task is
// completed it asks todo-api to create the next occurrence.
package recurring

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Invoker calls another Dapr app through the sidecar.
type Invoker interface {
	Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error)
}

// Handler serves the recurring service's routes (all for the sidecar).
type Handler struct {
	Dapr      Invoker
	Log       *slog.Logger
	PubSub    string
	AppToken  string
	TodoAppID string             // app id of todo-api
	Telemetry *telemetry.Metrics // optional
}

// NextOccurrence is the body of todo-api's internal route
// POST /internal/tasks/{id}/next-occurrence. DueAt is null for a series
// without a due date (it runs on its reminder).
type NextOccurrence struct {
	UserID           string     `json:"user_id"`
	Title            string     `json:"title"`
	Description      string     `json:"description"`
	Priority         string     `json:"priority"`
	Tags             []string   `json:"tags"`
	DueAt            *time.Time `json:"due_at"`
	ReminderAt       *time.Time `json:"reminder_at"`
	Recurrence       string     `json:"recurrence"`
	Timezone         string     `json:"timezone"`
	RecurrenceAnchor time.Time  `json:"recurrence_anchor"`
}

// Routes returns the HTTP handler.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	httpx.HandleProbes(mux, nil)
	sidecar := http.NewServeMux()
	sidecar.HandleFunc("GET /dapr/subscribe", h.subscribe)
	sidecar.HandleFunc("POST /events/task-completed", h.taskCompleted)
	sidecar.HandleFunc("POST /events/other", h.other)
	mux.Handle("/", httpx.RequireAppToken(h.AppToken, sidecar))
	return h.Telemetry.Instrument(mux)
}

// DeadLetterTopic receives task events that could not be handled.
const DeadLetterTopic = events.TopicTaskEvents + "-dlq"

// subscribe routes TaskCompleted to its handler with a Dapr routing rule.
// The default route acknowledges every other type without looking at it: a
// subscription with a dead-letter topic and no matching route would send
// every other event to the dead-letter topic.
func (h *Handler) subscribe(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, []dapr.Subscription{{
		PubSubName: h.PubSub,
		Topic:      events.TopicTaskEvents,
		Routes: dapr.Routes{
			Rules:   []dapr.Rule{{Match: `event.data.event_type == "` + events.TaskCompleted + `"`, Path: "/events/task-completed"}},
			Default: "/events/other",
		},
		DeadLetterTopic: DeadLetterTopic,
	}})
}

func (h *Handler) taskCompleted(w http.ResponseWriter, r *http.Request) {
	body, err := dapr.ReadEvent(w, r)
	if err != nil {
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	ce, e, err := events.DecodeTaskEvent(body)
	if err == nil && e.EventType != events.TaskCompleted {
		err = errUnexpectedType
	}
	if err != nil {
		h.Log.Warn("recurring: malformed event, dropping to dead-letter topic", "event_id", ce.ID(), "err", err)
		h.Telemetry.Event(events.TopicTaskEvents, "malformed", "dropped")
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	log := h.Log.With("event_id", ce.ID(), "task_id", e.TaskID, "user_id", e.UserID, "recurrence", e.Recurrence,
		"trace_id", httpx.TraceID(r))
	status := h.handle(r.Context(), log, e)
	h.Telemetry.Event(events.TopicTaskEvents, e.EventType, strings.ToLower(string(status)))
	dapr.WriteStatus(w, status)
}

var errUnexpectedType = errors.New("routed a non-TaskCompleted event")

// other acknowledges every event that is not a completion. Types this
// version does not know are counted, so that a producer ahead of this
// consumer shows on the metrics; nothing is dead-lettered.
func (h *Handler) other(w http.ResponseWriter, r *http.Request) {
	body, err := dapr.ReadEvent(w, r)
	var ce struct {
		Data struct {
			EventType string `json:"event_type"`
		} `json:"data"`
	}
	if err == nil && json.Unmarshal(body, &ce) == nil && !events.KnownTaskEventType(ce.Data.EventType) {
		h.Telemetry.Event(events.TopicTaskEvents, "unknown", "ignored")
	}
	dapr.WriteStatus(w, dapr.Success)
}

// handle computes and requests the next occurrence of a completed task
// (recurrence.NextOccurrence: the series' anchor decides the date and time
// of day; a series without a due date runs on its reminder).
func (h *Handler) handle(ctx context.Context, log *slog.Logger, e events.TaskEvent) dapr.Status {
	if e.Recurrence == "" || e.Recurrence == "none" {
		log.Info("recurring: task does not repeat", "outcome", "skipped")
		return dapr.Success
	}
	if e.CompletedAt == nil {
		log.Warn("recurring: TaskCompleted without completed_at, dropping", "outcome", "dropped")
		return dapr.Drop
	}
	loc, err := time.LoadLocation(e.Timezone)
	if err != nil || e.Timezone == "" || e.Timezone == "Local" {
		log.Warn("recurring: unknown time zone, dropping", "timezone", e.Timezone, "outcome", "dropped")
		return dapr.Drop
	}
	occ, err := recurrence.NextOccurrence(e.DueAt, e.ReminderAt, e.RecurrenceAnchor, *e.CompletedAt, recurrence.Rule(e.Recurrence), loc)
	if err != nil {
		log.Warn("recurring: cannot compute next occurrence, dropping", "err", err, "outcome", "dropped")
		return dapr.Drop
	}
	req := NextOccurrence{
		UserID: e.UserID, Title: e.Title, Description: e.Description, Priority: e.Priority, Tags: e.Tags,
		DueAt: occ.DueAt, ReminderAt: occ.ReminderAt, Recurrence: e.Recurrence, Timezone: e.Timezone,
		RecurrenceAnchor: occ.Anchor,
	}
	resp, err := h.Dapr.Invoke(ctx, h.TodoAppID, http.MethodPost,
		"internal/tasks/"+strconv.FormatInt(e.TaskID, 10)+"/next-occurrence", nil, req)
	if err != nil {
		log.Error("recurring: todo-api unreachable, asking for redelivery", "err", err, "outcome", "retry")
		return dapr.Retry
	}
	switch {
	case resp.Status == http.StatusCreated || resp.Status == http.StatusOK:
		var out struct {
			ID int64 `json:"id"`
		}
		_ = json.Unmarshal(resp.Body, &out)
		outcome := "created"
		if resp.Status == http.StatusOK {
			outcome = "already_created"
		}
		log.Info("recurring: next occurrence", "next_task_id", out.ID, "due_at", occ.DueAt, "reminder_at", occ.ReminderAt,
			"outcome", outcome)
		return dapr.Success
	case resp.Status >= 400 && resp.Status < 500 && resp.Status != http.StatusTooManyRequests &&
		resp.Status != http.StatusUnauthorized && resp.Status != http.StatusForbidden:
		// The request can never succeed (task unknown, invalid content).
		log.Warn("recurring: todo-api refused the next occurrence, dropping", "status", resp.Status,
			"answer", string(resp.Body), "outcome", "dropped")
		return dapr.Drop
	default:
		log.Error("recurring: todo-api failed, asking for redelivery", "status", resp.Status,
			"answer", string(resp.Body), "outcome", "retry")
		return dapr.Retry
	}
}

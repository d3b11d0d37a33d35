package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Recorder stores events; Store is the implementation.
type Recorder interface {
	Record(ctx context.Context, id string, e events.TaskEvent, raw json.RawMessage) (bool, error)
	History(ctx context.Context, taskID int64, after *HistoryCursor, limit int) ([]Entry, error)
	RecordDeadLetter(ctx context.Context, d DeadLetter) (bool, error)
	DeadLetters(ctx context.Context, topic string, limit int) ([]DeadLetter, error)
	Ping(ctx context.Context) error
}

// Handler serves the audit service's routes. Every route is for the Dapr
// sidecar (subscription delivery, service invocation), so all require the
// app API token.
type Handler struct {
	Store     Recorder
	Log       *slog.Logger
	PubSub    string
	AppToken  string
	Metrics   *Metrics           // optional: dead letters
	Telemetry *telemetry.Metrics // optional: requests and events
}

// DeadLetterTopic receives task events that could not be handled.
const DeadLetterTopic = events.TopicTaskEvents + "-dlq"

// Routes returns the HTTP handler.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	httpx.HandleProbes(mux, h.Store.Ping)
	sidecar := http.NewServeMux()
	sidecar.HandleFunc("GET /dapr/subscribe", h.subscribe)
	sidecar.HandleFunc("POST /events/task-events", h.taskEvent)
	sidecar.HandleFunc("POST /dead-letters/{topic}", h.deadLetter)
	sidecar.HandleFunc("GET /dead-letters", h.listDeadLetters)
	sidecar.HandleFunc("GET /tasks/{id}/history", h.history)
	mux.Handle("/", httpx.RequireAppToken(h.AppToken, sidecar))
	return h.Telemetry.Instrument(mux)
}

func (h *Handler) subscribe(w http.ResponseWriter, _ *http.Request) {
	subs := []dapr.Subscription{{
		PubSubName:      h.PubSub,
		Topic:           events.TopicTaskEvents,
		Routes:          dapr.Routes{Default: "/events/task-events"},
		DeadLetterTopic: DeadLetterTopic,
	}}
	// The dead-letter topics of every subscription, kept for inspection.
	for _, t := range DeadLetterTopics {
		subs = append(subs, dapr.Subscription{PubSubName: h.PubSub, Topic: t, Routes: dapr.Routes{Default: "/dead-letters/" + t}})
	}
	httpx.WriteJSON(w, http.StatusOK, subs)
}

// taskEvent handles one delivery: malformed events are dropped to the
// dead-letter topic, storage failures are retried, duplicates succeed.
// Every well-formed event is stored and logged, of a known type or not:
// audit-service exists to log all events of the topic.
func (h *Handler) taskEvent(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, err := dapr.ReadEvent(w, r)
	if err != nil {
		h.Log.Warn("audit: unreadable event, dropping", "err", err)
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	ce, e, err := events.DecodeTaskEvent(body)
	if err != nil {
		h.Log.Warn("audit: malformed event, dropping to dead-letter topic", "event_id", ce.ID(), "err", err)
		h.count("malformed", "dropped")
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	inserted, err := h.Store.Record(r.Context(), ce.ID(), e, ce.Data())
	if err != nil {
		h.Log.Error("audit: cannot store event, asking for redelivery", "event_id", ce.ID(), "err", err)
		h.count(e.EventType, "retry")
		dapr.WriteStatus(w, dapr.Retry)
		return
	}
	if inserted {
		h.count(e.EventType, "stored")
	} else {
		h.count(e.EventType, "duplicate")
	}
	h.Log.Info("audit event",
		"event_id", ce.ID(), "event_type", e.EventType, "task_id", e.TaskID, "user_id", e.UserID,
		"version", e.Version, "title", e.Title, "timestamp", e.Timestamp, "duplicate", !inserted,
		"trace_id", httpx.TraceID(r), "duration_ms", float64(time.Since(start).Microseconds())/1000)
	dapr.WriteStatus(w, dapr.Success)
}

// count counts an event by type and outcome; types this version does not
// know are counted as "unknown", so a producer cannot grow the label set.
func (h *Handler) count(eventType, outcome string) {
	if !events.KnownTaskEventType(eventType) {
		eventType = "unknown"
	}
	h.Telemetry.Event(events.TopicTaskEvents, eventType, outcome)
}

// Page bounds of GET /tasks/{id}/history. A page also ends once its events'
// data passes HistoryPageBytes, so that an answer stays far below what the
// caller's sidecar client reads (dapr.MaxResponseBytes).
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
	HistoryPageBytes    = 1 << 20
)

// history answers one page of a task's events in version order:
// {"task_id", "events", "next_cursor"}; next_cursor is null on the last page.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_id", "task id must be a positive integer")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_query", "the query string is not valid percent-encoding")
		return
	}
	limit := DefaultHistoryLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxHistoryLimit {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("limit: must be an integer from 1 to %d", MaxHistoryLimit))
			return
		}
		limit = n
	}
	var after *HistoryCursor
	if s := q.Get("cursor"); s != "" {
		c, err := ParseHistoryCursor(s)
		if err != nil {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_cursor", "cursor: not one this service gave; start again without cursor")
			return
		}
		after = &c
	}
	list, err := h.Store.History(r.Context(), id, after, limit+1)
	if err != nil {
		h.Log.Error("audit: history failed", "task_id", id, "err", err)
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "history unavailable")
		return
	}
	page, size := []Entry{}, 0
	for _, e := range list {
		if len(page) == limit || (len(page) > 0 && size+len(e.Data) > HistoryPageBytes) {
			break
		}
		page = append(page, e)
		size += len(e.Data)
	}
	var next *string
	if len(page) < len(list) {
		c := page[len(page)-1].Cursor().String()
		next = &c
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"task_id": id, "events": page, "next_cursor": next})
}

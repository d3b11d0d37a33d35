package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Recorder stores events; Store is the implementation.
type Recorder interface {
	Record(ctx context.Context, id string, e events.TaskEvent, raw json.RawMessage) (bool, error)
	History(ctx context.Context, taskID int64, after *HistoryCursor, limit int) ([]auditapi.Entry, error)
	RecordDeadLetter(ctx context.Context, d auditapi.DeadLetter) (bool, error)
	DeadLetters(ctx context.Context, topic string, limit int) ([]auditapi.DeadLetter, error)
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
	subs := []consumer.Subscription{{
		Topic: events.TopicTaskEvents, Path: "/events/task-events", DeadLetterTopic: DeadLetterTopic,
		LogMessage: "audit event", Handle: consumer.TaskEvents(h.taskEvent),
	}}
	// The dead-letter topics of every subscription, kept for inspection.
	for _, t := range DeadLetterTopics {
		subs = append(subs, consumer.Subscription{
			Topic: t, Path: "/dead-letters/" + t, NoDeadLetter: true, Raw: true,
			LogMessage: "dead letter", Handle: h.deadLetter,
		})
	}
	app := &consumer.App{
		Name: auditapi.AppID, PubSub: h.PubSub, AppToken: h.AppToken, Log: h.Log, Telemetry: h.Telemetry,
		Ready: h.Store.Ping, Subscriptions: subs,
		Routes: []consumer.Route{
			{Pattern: auditapi.RouteHistory, Handler: h.history},
			{Pattern: auditapi.RouteDeadLetters, Handler: h.listDeadLetters},
		},
	}
	return app.Handler()
}

// taskEvent stores one event once per CloudEvent id. Every well-formed
// event is stored and logged, of a known type or not: audit-service exists
// to log all events of the topic.
func (h *Handler) taskEvent(ctx context.Context, d *consumer.Delivery, e events.TaskEvent) error {
	d.Log("version", e.Version, "title", e.Title, "timestamp", e.Timestamp)
	inserted, err := h.Store.Record(ctx, d.ID, e, d.CloudEvent.Data())
	if err != nil {
		return fmt.Errorf("store event: %w", err)
	}
	d.Once(inserted, "stored")
	return nil
}

// history answers one page of a task's events in version order.
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
	limit := auditapi.DefaultHistoryLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditapi.MaxHistoryLimit {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("limit: must be an integer from 1 to %d", auditapi.MaxHistoryLimit))
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
	page := auditapi.HistoryPage{TaskID: id, Events: []auditapi.Entry{}}
	size := 0
	for _, e := range list {
		if len(page.Events) == limit || (len(page.Events) > 0 && size+len(e.Data) > auditapi.HistoryPageBytes) {
			break
		}
		page.Events = append(page.Events, e)
		size += len(e.Data)
	}
	if len(page.Events) < len(list) {
		c := cursorOf(page.Events[len(page.Events)-1]).String()
		page.NextCursor = &c
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

// New builds audit-service: its database (migrated), store and handler.
func New(ctx context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (service.Handlers, func(), error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return service.Handlers{}, nil, fmt.Errorf("database: %w", err)
	}
	if err := Migrate(ctx, pool, log); err != nil {
		pool.Close()
		return service.Handlers{}, nil, err
	}
	h := &Handler{Store: NewStore(pool), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken,
		Metrics: NewMetrics(m.Registry), Telemetry: m}
	return service.Handlers{App: h.Routes()}, pool.Close, nil
}

package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
)

// DeadLetterTopics are the dead-letter topics audit-service watches.
var DeadLetterTopics = []string{events.TopicTaskEvents + "-dlq", events.TopicReminders + "-dlq"}

// RecordDeadLetter stores a dead letter once per (topic, event id).
func (s *Store) RecordDeadLetter(ctx context.Context, d auditapi.DeadLetter) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO dead_letters (topic, event_id, event_type, cloudevent)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, d.Topic, d.EventID, d.EventType, d.CloudEvent)
	if err != nil {
		return false, fmt.Errorf("audit: record dead letter: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeadLetters lists the newest dead letters, of one topic when topic is set.
func (s *Store) DeadLetters(ctx context.Context, topic string, limit int) ([]auditapi.DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT topic, event_id, event_type, received_at, cloudevent FROM dead_letters
		WHERE $1 = '' OR topic = $1 ORDER BY received_at DESC LIMIT $2`, topic, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: dead letters: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditapi.DeadLetter, error) {
		var d auditapi.DeadLetter
		err := r.Scan(&d.Topic, &d.EventID, &d.EventType, &d.ReceivedAt, &d.CloudEvent)
		d.ReceivedAt = d.ReceivedAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: dead letters: %w", err)
	}
	return list, nil
}

// Metrics are audit-service's own Prometheus metrics (the shared ones are in
// telemetry.Metrics).
type Metrics struct {
	DeadLetters *prometheus.CounterVec // by topic
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "todo_dead_letters_total", Help: "Events that reached a dead-letter topic, by topic.",
		}, []string{"topic"}),
	}
	reg.MustRegister(m.DeadLetters)
	return m
}

// deadLetter records one event from a dead-letter topic: logged, counted
// and stored for inspection. Whatever it holds, it is never dropped again
// (the subscription is Raw: only a body over the size bound is refused).
func (h *Handler) deadLetter(ctx context.Context, d *consumer.Delivery) error {
	var env struct {
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(d.Body, &env)
	var data struct {
		EventType string `json:"event_type"`
	}
	_ = json.Unmarshal(env.Data, &data)
	raw := json.RawMessage(d.Body)
	if !json.Valid(d.Body) {
		raw, _ = json.Marshal(string(d.Body))
	}
	if env.ID == "" {
		// Keyed by content, so each redelivery of the same letter is the
		// same row.
		sum := sha256.Sum256(d.Body)
		env.ID = "no-id-sha256-" + hex.EncodeToString(sum[:])
	}
	d.ID, d.Type = env.ID, data.EventType
	d.KnownType(events.KnownTaskEventType(data.EventType) || data.EventType == events.ReminderDue)
	inserted, err := h.Store.RecordDeadLetter(ctx, auditapi.DeadLetter{Topic: d.Topic, EventID: env.ID, EventType: data.EventType, CloudEvent: raw})
	if err != nil {
		return fmt.Errorf("store dead letter: %w", err)
	}
	if inserted && h.Metrics != nil {
		h.Metrics.DeadLetters.WithLabelValues(d.Topic).Inc()
	}
	d.Once(inserted, "stored")
	return nil
}

func (h *Handler) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit := auditapi.DefaultDeadLetterLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > auditapi.MaxDeadLetterLimit {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("limit: must be an integer from 1 to %d", auditapi.MaxDeadLetterLimit))
			return
		}
		limit = n
	}
	list, err := h.Store.DeadLetters(r.Context(), r.URL.Query().Get("topic"), limit)
	if err != nil {
		h.Log.Error("list dead letters", "err", err)
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "dead letters unavailable")
		return
	}
	if list == nil {
		list = []auditapi.DeadLetter{}
	}
	httpx.WriteJSON(w, http.StatusOK, auditapi.DeadLetterList{DeadLetters: list})
}

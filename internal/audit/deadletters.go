package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
)

// DeadLetterTopics are the dead-letter topics audit-service watches.
var DeadLetterTopics = []string{events.TopicTaskEvents + "-dlq", events.TopicReminders + "-dlq"}

// DeadLetter is an event that reached a dead-letter topic.
type DeadLetter struct {
	Topic      string          `json:"topic"`
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	ReceivedAt time.Time       `json:"received_at"`
	CloudEvent json.RawMessage `json:"cloudevent"`
}

// RecordDeadLetter stores a dead letter once per (topic, event id).
func (s *Store) RecordDeadLetter(ctx context.Context, d DeadLetter) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO dead_letters (topic, event_id, event_type, cloudevent)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, d.Topic, d.EventID, d.EventType, d.CloudEvent)
	if err != nil {
		return false, fmt.Errorf("audit: record dead letter: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// DeadLetters lists the newest dead letters, of one topic when topic is set.
func (s *Store) DeadLetters(ctx context.Context, topic string, limit int) ([]DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT topic, event_id, event_type, received_at, cloudevent FROM dead_letters
		WHERE $1 = '' OR topic = $1 ORDER BY received_at DESC LIMIT $2`, topic, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: dead letters: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
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
// and stored for inspection. Whatever it holds, it is never dropped again.
func (h *Handler) deadLetter(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	body, err := dapr.ReadEvent(w, r)
	if err != nil {
		h.Log.Error("dead letter unreadable", "topic", topic, "err", err)
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	var env struct {
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	var data struct {
		EventType string `json:"event_type"`
	}
	_ = json.Unmarshal(env.Data, &data)
	raw := json.RawMessage(body)
	if !json.Valid(body) {
		raw, _ = json.Marshal(string(body))
	}
	if env.ID == "" {
		// Keyed by content, so each redelivery of the same letter is the
		// same row.
		sum := sha256.Sum256(body)
		env.ID = "no-id-sha256-" + hex.EncodeToString(sum[:])
	}
	inserted, err := h.Store.RecordDeadLetter(r.Context(), DeadLetter{Topic: topic, EventID: env.ID, EventType: data.EventType, CloudEvent: raw})
	if err != nil {
		h.Log.Error("cannot store dead letter, asking for redelivery", "topic", topic, "event_id", env.ID, "err", err)
		dapr.WriteStatus(w, dapr.Retry)
		return
	}
	if inserted && h.Metrics != nil {
		h.Metrics.DeadLetters.WithLabelValues(topic).Inc()
	}
	h.Log.Warn("dead letter", "topic", topic, "event_id", env.ID, "event_type", data.EventType, "duplicate", !inserted)
	dapr.WriteStatus(w, dapr.Success)
}

func (h *Handler) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_query", "limit: must be an integer from 1 to 1000")
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
		list = []DeadLetter{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"dead_letters": list})
}

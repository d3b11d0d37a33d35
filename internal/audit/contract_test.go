package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evolution-todo/todo/internal/audit"
	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/contract/contracttest"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer/consumertest"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/pgtest"
)

// newStore returns the real Store on a fresh, migrated database.
func newStore(t *testing.T) (*audit.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := audit.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return audit.NewStore(pool), pool
}

// failingStore is the real Store whose writes fail while fail is set, as
// they do when the database is unreachable.
type failingStore struct {
	*audit.Store
	fail atomic.Bool
}

func (f *failingStore) Record(ctx context.Context, id string, e events.TaskEvent, raw json.RawMessage) (bool, error) {
	if f.fail.Load() {
		return false, errors.New("audit test: database unreachable")
	}
	return f.Store.Record(ctx, id, e, raw)
}

func (f *failingStore) RecordDeadLetter(ctx context.Context, d auditapi.DeadLetter) (bool, error) {
	if f.fail.Load() {
		return false, errors.New("audit test: database unreachable")
	}
	return f.Store.RecordDeadLetter(ctx, d)
}

// TestConsumerSuite runs the shared consumer suite on the task-events
// subscription over the real store, one fresh database per case.
func TestConsumerSuite(t *testing.T) {
	consumertest.Run(t, func(t *testing.T) consumertest.Consumer {
		store, pool := newStore(t)
		fs := &failingStore{Store: store}
		return consumertest.Consumer{
			Handler: newHandler(fs, appToken), AppToken: appToken,
			Path: "/events/task-events", Topic: events.TopicTaskEvents,
			Event: func(id string) []byte { return mustJSON(t, deliveredEvent(id, taskData())) },
			Effects: func(t *testing.T) int {
				var n int
				if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			},
			FailStorage: fs.fail.Store,
		}
	})
}

// logRecords returns the JSON log records of buf whose msg is msg.
// The console line of each event, which the end-to-end tests read: one
// "audit event" per delivery with the event's attributes, and one "dead
// letter" per dead letter with its id.
func TestLogLines(t *testing.T) {
	var buf bytes.Buffer
	rec := &fakeRecorder{inserted: true}
	h := (&audit.Handler{Store: rec, Log: slog.New(slog.NewJSONHandler(&buf, nil)), PubSub: events.PubSubName, AppToken: appToken}).Routes()
	deliverWithTrace := func(path string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set(`dapr-api-token`, appToken)
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if !strings.Contains(w.Body.String(), `"SUCCESS"`) {
			t.Fatalf("POST %s answered %d %s", path, w.Code, w.Body)
		}
	}
	deliverWithTrace("/events/task-events", mustJSON(t, deliveredEvent("ce-log", taskData())))
	rec.inserted = false
	deliverWithTrace("/events/task-events", mustJSON(t, deliveredEvent("ce-log", taskData())))

	lines := consumertest.LogLines(t, buf.String(), "audit event")
	if len(lines) != 2 {
		t.Fatalf("%d audit event lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		want := map[string]any{
			"event_id": "ce-log", "event_type": "TaskUpdated", "task_id": float64(42), "user_id": "user-1",
			"version": float64(3), "title": "Buy milk", "timestamp": "2026-03-10T08:00:00Z", "duplicate": i == 1,
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
		}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, line[k], v)
			}
		}
		if _, ok := line["duration_ms"].(float64); !ok {
			t.Errorf("line %d: duration_ms = %v, want a number", i, line["duration_ms"])
		}
	}

	deliverWithTrace("/dead-letters/reminders-dlq", []byte(`{"specversion":"1.0","id":"dl-1","data":{"event_type":"ReminderDue"}}`))
	lines = consumertest.LogLines(t, buf.String(), "dead letter")
	if len(lines) != 1 || lines[0]["event_id"] != "dl-1" || lines[0]["event_type"] != "ReminderDue" ||
		lines[0]["topic"] != "reminders-dlq" || lines[0]["duplicate"] != false {
		t.Errorf("dead letter lines = %v", lines)
	}
}

// Dead letters over the real store: whatever arrives is stored once per
// (topic, id), a letter without an id once per content, counted, and
// listed through the contract's client; a storage failure asks for
// redelivery instead of losing it.
func TestDeadLetters(t *testing.T) {
	store, _ := newStore(t)
	fs := &failingStore{Store: store}
	m := audit.NewMetrics(prometheus.NewRegistry())
	h := (&audit.Handler{Store: fs, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PubSub: events.PubSubName,
		AppToken: appToken, Metrics: m}).Routes()
	post := func(topic, body string) string {
		req := httptest.NewRequest(http.MethodPost, "/dead-letters/"+topic, strings.NewReader(body))
		req.Header.Set("dapr-api-token", appToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Body.String()
	}
	poison := `{"specversion":"1.0","id":"p1","source":"s","type":"t","data":{"event_type":"TaskCompleted","task_id":"x"}}`
	for range 2 {
		if got := post("task-events-dlq", poison); !strings.Contains(got, `"SUCCESS"`) {
			t.Fatalf("dead letter answered %s", got)
		}
	}
	// A letter without an id, delivered again and again, is one row; a
	// different one is another.
	for _, body := range []string{`not json at all`, `not json at all`, `{"data":{}}`, `{"data":{}}`, `not json at all`} {
		if got := post("task-events-dlq", body); !strings.Contains(got, `"SUCCESS"`) {
			t.Fatalf("a dead letter without id answered %s", got)
		}
	}
	if got := post("reminders-dlq", `{"id":"p1"}`); !strings.Contains(got, `"SUCCESS"`) {
		t.Fatalf("dead letter of reminders-dlq answered %s", got)
	}

	c := auditapi.Client{Dapr: contracttest.Invoker{AppToken: appToken, Apps: map[string]http.Handler{auditapi.AppID: h}}}
	list, err := c.DeadLetters(t.Context(), "task-events-dlq", 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]auditapi.DeadLetter{}
	for _, d := range list {
		ids[d.EventID] = d
	}
	p1 := ids["p1"]
	if len(list) != 3 || len(ids) != 3 || p1.EventType != "TaskCompleted" || p1.Topic != "task-events-dlq" || p1.ReceivedAt.IsZero() {
		t.Fatalf("task-events-dlq letters = %+v, want p1 and one row per distinct letter without id", list)
	}
	var stored, sent map[string]any
	if json.Unmarshal(p1.CloudEvent, &stored) != nil || json.Unmarshal([]byte(poison), &sent) != nil || !reflect.DeepEqual(stored, sent) {
		t.Errorf("p1 stored as %s, want the letter as delivered", p1.CloudEvent)
	}
	for id, d := range ids {
		if id == "p1" {
			continue
		}
		if !strings.HasPrefix(id, "no-id-sha256-") {
			t.Errorf("letter without id stored as %s", id)
		}
		if cloudEvent := string(d.CloudEvent); cloudEvent != `"not json at all"` && cloudEvent != `{"data":{}}` {
			t.Errorf("letter without id stored with %s", cloudEvent)
		}
	}
	if all, err := c.DeadLetters(t.Context(), "", 0); err != nil || len(all) != 4 {
		t.Errorf("all dead letters = %+v, %v; want 4", all, err)
	}
	for topic, want := range map[string]float64{"task-events-dlq": 3, "reminders-dlq": 1} {
		if n := testutil.ToFloat64(m.DeadLetters.WithLabelValues(topic)); n != want {
			t.Errorf("todo_dead_letters_total{topic=%q} = %v, want %v", topic, n, want)
		}
	}
	_, err = c.DeadLetters(t.Context(), "", auditapi.MaxDeadLetterLimit+1)
	var appErr *dapr.AppError
	if !errors.As(err, &appErr) || appErr.Status != http.StatusBadRequest || !appErr.Client() {
		t.Errorf("limit over the maximum: %v, want a 400 *dapr.AppError", err)
	}

	fs.fail.Store(true)
	if got := post("task-events-dlq", `{"id":"p2"}`); !strings.Contains(got, `"RETRY"`) {
		t.Errorf("storage failure answered %s, want RETRY", got)
	}
}

// auditapi.Client served from audit's real handler over a real database:
// the history page by page along next_cursor, and a cursor this service
// did not give refused as a permanent 400.
func TestHistoryThroughTheClient(t *testing.T) {
	store, _ := newStore(t)
	base := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	const n = 5
	for v := 1; v <= n; v++ {
		typ := events.TaskUpdated
		if v == 1 {
			typ = events.TaskCreated
		}
		e := events.TaskEvent{EventType: typ, TaskID: 42, UserID: "u", Title: fmt.Sprint("t", v),
			Timestamp: base.Add(time.Duration(v) * time.Minute), Version: v}
		b, _ := json.Marshal(e)
		if _, err := store.Record(t.Context(), fmt.Sprintf("ev-%d", v), e, b); err != nil {
			t.Fatal(err)
		}
	}
	h := newHandler(store, appToken)
	c := auditapi.Client{Dapr: contracttest.Invoker{AppToken: appToken, Apps: map[string]http.Handler{auditapi.AppID: h}}}

	var got []auditapi.Entry
	var sizes []int
	q := auditapi.HistoryQuery{Limit: 2}
	for {
		page, err := c.History(t.Context(), 42, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.TaskID != 42 {
			t.Errorf("page of task %d, want 42", page.TaskID)
		}
		got = append(got, page.Events...)
		sizes = append(sizes, len(page.Events))
		if page.NextCursor == nil {
			break
		}
		q.Cursor = *page.NextCursor
	}
	if fmt.Sprint(sizes) != "[2 2 1]" {
		t.Errorf("page sizes %v, want [2 2 1]", sizes)
	}
	for i, e := range got {
		var data events.TaskEvent
		if err := json.Unmarshal(e.Data, &data); err != nil || data.Title != fmt.Sprint("t", i+1) {
			t.Errorf("event %d data = %s (%v)", i, e.Data, err)
		}
		if e.EventID != fmt.Sprintf("ev-%d", i+1) || e.Version != i+1 || !e.Timestamp.Equal(base.Add(time.Duration(i+1)*time.Minute)) || e.ReceivedAt.IsZero() {
			t.Errorf("event %d = %+v", i, e)
		}
	}
	if got[0].EventType != events.TaskCreated || got[n-1].EventType != events.TaskUpdated {
		t.Errorf("types %s ... %s", got[0].EventType, got[n-1].EventType)
	}

	empty, err := c.History(t.Context(), 7, auditapi.HistoryQuery{})
	if err != nil || empty.TaskID != 7 || empty.Events == nil || len(empty.Events) != 0 || empty.NextCursor != nil {
		t.Errorf("history of a task without events = %+v, %v; want an empty last page", empty, err)
	}

	_, err = c.History(t.Context(), 42, auditapi.HistoryQuery{Cursor: "not-a-cursor"})
	var appErr *dapr.AppError
	if !errors.As(err, &appErr) || appErr.Status != http.StatusBadRequest || !appErr.Client() {
		t.Fatalf("bad cursor: %v, want a 400 *dapr.AppError", err)
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(appErr.Body, &body) != nil || body.Error.Code != "invalid_cursor" {
		t.Errorf("bad cursor answered %s, want code invalid_cursor", appErr.Body)
	}
}

// One task's events delivered shuffled and duplicated, as brokers other
// than Kafka deliver them: each is kept once, and the history is in version
// order whatever the order of delivery. The events share one timestamp (a
// clock's granularity) and have random ids, so that only the version can
// order them.
func TestShuffledAndDuplicatedEventsKeepVersionOrder(t *testing.T) {
	at := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	types := []string{events.TaskCreated, events.TaskUpdated, events.TaskCompleted, events.TaskUpdated,
		events.TaskUpdated, events.TaskCompleted, events.TaskUpdated, events.TaskDeleted}
	var bodies [][]byte
	for i, typ := range types {
		data := taskData()
		data["event_type"], data["version"], data["timestamp"] = typ, i+1, at.Format(time.RFC3339)
		bodies = append(bodies, mustJSON(t, deliveredEvent(uuid.NewString(), data)))
	}
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			store, _ := newStore(t)
			h := newHandler(store, appToken)
			for _, b := range consumertest.ShuffledWithDuplicates(rand.New(rand.NewPCG(seed, 2)), bodies) {
				if got := deliver(t, h, b); got != dapr.Success {
					t.Fatalf("status %s", got)
				}
			}
			h2, err := store.History(t.Context(), 42, nil, 100)
			if err != nil {
				t.Fatal(err)
			}
			var versions []int
			for _, e := range h2 {
				versions = append(versions, e.Version)
			}
			if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !reflect.DeepEqual(versions, want) {
				t.Errorf("history versions %v, want %v", versions, want)
			}
		})
	}
}

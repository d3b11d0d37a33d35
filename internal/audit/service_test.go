package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/audit"
	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/pgtest"
)

const appToken = "app-secret"

// fakeRecorder is an audit.Recorder that remembers what it was given.
type fakeRecorder struct {
	mu        sync.Mutex
	inserted  bool // what Record answers when recordErr is nil
	recordErr error
	calls     []recordCall

	history    []auditapi.Entry
	historyErr error
	historyIDs []int64

	pingErr error

	deadLetters   []auditapi.DeadLetter
	deadLetterErr error
}

type recordCall struct {
	id  string
	e   events.TaskEvent
	raw json.RawMessage
}

func (f *fakeRecorder) Record(_ context.Context, id string, e events.TaskEvent, raw json.RawMessage) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, recordCall{id: id, e: e, raw: append(json.RawMessage(nil), raw...)})
	if f.recordErr != nil {
		return false, f.recordErr
	}
	return f.inserted, nil
}

func (f *fakeRecorder) History(_ context.Context, taskID int64, _ *audit.HistoryCursor, _ int) ([]auditapi.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.historyIDs = append(f.historyIDs, taskID)
	return f.history, f.historyErr
}

func (f *fakeRecorder) Ping(context.Context) error { return f.pingErr }

func (f *fakeRecorder) RecordDeadLetter(_ context.Context, d auditapi.DeadLetter) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deadLetterErr != nil {
		return false, f.deadLetterErr
	}
	for _, x := range f.deadLetters {
		if x.Topic == d.Topic && x.EventID == d.EventID {
			return false, nil
		}
	}
	f.deadLetters = append(f.deadLetters, d)
	return true, nil
}

func (f *fakeRecorder) DeadLetters(_ context.Context, topic string, limit int) ([]auditapi.DeadLetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []auditapi.DeadLetter
	for _, d := range f.deadLetters {
		if topic == "" || d.Topic == topic {
			out = append(out, d)
		}
	}
	return out, f.deadLetterErr
}

func newHandler(rec audit.Recorder, token string) http.Handler {
	h := &audit.Handler{
		Store:    rec,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		PubSub:   events.PubSubName,
		AppToken: token,
	}
	return h.Routes()
}

// taskData is the data of a valid TaskUpdated event, as todo-api publishes it.
func taskData() map[string]any {
	return map[string]any{
		"event_type":        "TaskUpdated",
		"task_id":           42,
		"user_id":           "user-1",
		"title":             "Buy milk",
		"timestamp":         "2026-03-10T08:00:00Z",
		"recurrence":        "none",
		"description":       "",
		"priority":          "medium",
		"tags":              []string{"home"},
		"due_at":            nil,
		"reminder_at":       nil,
		"timezone":          "UTC",
		"completed":         false,
		"completed_at":      nil,
		"version":           3,
		"series_id":         nil,
		"recurrence_anchor": nil,
	}
}

// deliveredEvent is a CloudEvent as the Dapr sidecar delivers it to a
// subscriber: the publisher's envelope plus topic, pubsubname and trace
// attributes, the spec's fields under data.
func deliveredEvent(id string, data any) map[string]any {
	return map[string]any{
		"specversion":     "1.0",
		"id":              id,
		"source":          "todo-api",
		"type":            "todo.TaskUpdated.v1",
		"subject":         "42",
		"time":            "2026-03-10T08:00:00Z",
		"datacontenttype": "application/json",
		"topic":           events.TopicTaskEvents,
		"pubsubname":      events.PubSubName,
		"traceparent":     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"data":            data,
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deliver POSTs body to the subscription route with the app token and
// returns the status the handler answered.
func deliver(t *testing.T, h http.Handler, body []byte) dapr.Status {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/events/task-events", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("dapr-api-token", appToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP status = %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var out struct {
		Status dapr.Status `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %q is not JSON: %v", rec.Body, err)
	}
	return out.Status
}

// The statuses of a new event, a duplicate and a storage failure are the
// shared suite's (TestConsumerSuite); here, what the store is given.
func TestTaskEventIsRecorded(t *testing.T) {
	rec := &fakeRecorder{inserted: true}
	h := newHandler(rec, appToken)
	if got := deliver(t, h, mustJSON(t, deliveredEvent("ce-123", taskData()))); got != dapr.Success {
		t.Errorf("status = %q, want %q", got, dapr.Success)
	}
	if len(rec.calls) != 1 {
		t.Fatalf("Record called %d times, want 1", len(rec.calls))
	}
	c := rec.calls[0]
	if c.id != "ce-123" {
		t.Errorf("Record id = %q, want the CloudEvent id ce-123", c.id)
	}
	wantTime := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	if c.e.EventType != events.TaskUpdated || c.e.TaskID != 42 || c.e.UserID != "user-1" ||
		c.e.Title != "Buy milk" || c.e.Version != 3 || !c.e.Timestamp.Equal(wantTime) {
		t.Errorf("Record event = %+v", c.e)
	}
	// raw is the data member, not the whole envelope.
	var raw map[string]any
	if err := json.Unmarshal(c.raw, &raw); err != nil {
		t.Fatalf("raw = %s: %v", c.raw, err)
	}
	if raw["title"] != "Buy milk" || raw["task_id"] != float64(42) || raw["specversion"] != nil {
		t.Errorf("raw = %s, want the event data", c.raw)
	}
}

func TestMalformedEventsAreDropped(t *testing.T) {
	with := func(change func(d map[string]any)) []byte {
		d := taskData()
		change(d)
		b, _ := json.Marshal(deliveredEvent("ce-bad", d))
		return b
	}
	// The spec's fields at the top level, a body over the bound and an
	// event without an id are the shared suite's cases.
	tests := []struct {
		name string
		body []byte
	}{
		{"not JSON", []byte("this is not json")},
		{"empty body", nil},
		{"JSON but not an object", []byte(`[1,2,3]`)},
		{"no specversion", []byte(`{"id":"x","source":"s","type":"t","data":{}}`)},
		{"data is null", mustJSON(t, deliveredEvent("ce-null", nil))},
		{"data is a string", mustJSON(t, deliveredEvent("ce-str", "TaskUpdated"))},
		{"task_id as a string", with(func(d map[string]any) { d["task_id"] = "42" })},
		{"task_id zero", with(func(d map[string]any) { d["task_id"] = 0 })},
		{"negative task_id", with(func(d map[string]any) { d["task_id"] = -7 })},
		{"missing event_type", with(func(d map[string]any) { delete(d, "event_type") })},
		{"missing user_id", with(func(d map[string]any) { delete(d, "user_id") })},
		{"empty user_id", with(func(d map[string]any) { d["user_id"] = "" })},
		{"missing timestamp", with(func(d map[string]any) { delete(d, "timestamp") })},
		{"timestamp not a time", with(func(d map[string]any) { d["timestamp"] = "yesterday" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{inserted: true}
			got := deliver(t, newHandler(rec, appToken), tt.body)
			if got != dapr.Drop {
				t.Errorf("status = %q, want %q", got, dapr.Drop)
			}
			if len(rec.calls) != 0 {
				t.Errorf("Record called %d times for a malformed event, want 0", len(rec.calls))
			}
		})
	}
}

// audit-service logs every event of the topic: one of a type this version
// does not know (a newer producer's) is stored and acknowledged, not
// dead-lettered.
func TestUnknownEventTypeIsStored(t *testing.T) {
	d := taskData()
	d["event_type"] = "TaskArchived"
	rec := &fakeRecorder{inserted: true}
	if got := deliver(t, newHandler(rec, appToken), mustJSON(t, deliveredEvent("ce-archived", d))); got != dapr.Success {
		t.Fatalf("status = %q, want %q", got, dapr.Success)
	}
	if len(rec.calls) != 1 || rec.calls[0].id != "ce-archived" || rec.calls[0].e.EventType != "TaskArchived" {
		t.Errorf("Record calls = %+v, want one for ce-archived of type TaskArchived", rec.calls)
	}
}

func TestAppToken(t *testing.T) {
	body := mustJSON(t, deliveredEvent("ce-1", taskData()))
	tests := []struct {
		name, method, path string
		token              string // "" = no header
		want               int
	}{
		{"delivery without token", http.MethodPost, "/events/task-events", "", http.StatusUnauthorized},
		{"delivery with wrong token", http.MethodPost, "/events/task-events", "wrong", http.StatusUnauthorized},
		{"subscribe without token", http.MethodGet, "/dapr/subscribe", "", http.StatusUnauthorized},
		{"history without token", http.MethodGet, "/tasks/1/history", "", http.StatusUnauthorized},
		{"history with token", http.MethodGet, "/tasks/1/history", appToken, http.StatusOK},
		{"healthz needs no token", http.MethodGet, "/healthz", "", http.StatusOK},
		{"readyz needs no token", http.MethodGet, "/readyz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{inserted: true}
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(string(body)))
			if tt.token != "" {
				req.Header.Set("dapr-api-token", tt.token)
			}
			w := httptest.NewRecorder()
			newHandler(rec, appToken).ServeHTTP(w, req)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.want, w.Body)
			}
			if tt.want == http.StatusUnauthorized {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != "unauthorized" {
					t.Errorf("body = %s, want error code unauthorized", w.Body)
				}
				if len(rec.calls) != 0 || len(rec.historyIDs) != 0 {
					t.Error("an unauthorized request reached the store")
				}
			}
		})
	}
}

func TestNoAppTokenConfiguredAcceptsAnyCaller(t *testing.T) {
	rec := &fakeRecorder{inserted: true}
	req := httptest.NewRequest(http.MethodPost, "/events/task-events",
		strings.NewReader(string(mustJSON(t, deliveredEvent("ce-1", taskData())))))
	w := httptest.NewRecorder()
	newHandler(rec, "").ServeHTTP(w, req)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"SUCCESS"`) {
		t.Errorf("answer = %d %s, want 200 SUCCESS", w.Code, w.Body)
	}
	if len(rec.calls) != 1 {
		t.Errorf("Record called %d times, want 1", len(rec.calls))
	}
}

func TestSubscribe(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil)
	req.Header.Set("dapr-api-token", appToken)
	w := httptest.NewRecorder()
	newHandler(&fakeRecorder{}, appToken).ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d", w.Code)
	}
	var got []dapr.Subscription
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	want := []dapr.Subscription{{
		PubSubName:      "kafka-pubsub",
		Topic:           "task-events",
		Routes:          dapr.Routes{Default: "/events/task-events"},
		DeadLetterTopic: "task-events-dlq",
	}, {
		PubSubName: "kafka-pubsub",
		Topic:      "task-events-dlq",
		Routes:     dapr.Routes{Default: "/dead-letters/task-events-dlq"},
	}, {
		PubSubName: "kafka-pubsub",
		Topic:      "reminders-dlq",
		Routes:     dapr.Routes{Default: "/dead-letters/reminders-dlq"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions = %+v, want %+v", got, want)
	}
	// Dapr reads these exact member names.
	for _, member := range []string{`"pubsubname"`, `"topic"`, `"routes"`, `"default"`, `"deadLetterTopic"`} {
		if !strings.Contains(w.Body.String(), member) {
			t.Errorf("body %s lacks %s", w.Body, member)
		}
	}
}

func TestHistoryRoute(t *testing.T) {
	entry := auditapi.Entry{
		EventID: "ce-1", EventType: "TaskCreated", Version: 1,
		Timestamp:  time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC),
		ReceivedAt: time.Date(2026, 3, 10, 8, 0, 1, 0, time.UTC),
		Data:       json.RawMessage(`{"task_id":7}`),
	}
	tests := []struct {
		name       string
		path       string
		history    []auditapi.Entry
		historyErr error
		wantStatus int
		wantCode   string // error code, for error answers
		wantEvents int
		wantTaskID int64 // what History was asked for; 0 = not called
	}{
		{"events of a task", "/tasks/7/history", []auditapi.Entry{entry}, nil, http.StatusOK, "", 1, 7},
		{"no events is an empty list", "/tasks/8/history", nil, nil, http.StatusOK, "", 0, 8},
		{"store failure", "/tasks/7/history", nil, errors.New("db down"), http.StatusInternalServerError, "internal", 0, 7},
		{"id not a number", "/tasks/abc/history", nil, nil, http.StatusBadRequest, "invalid_id", 0, 0},
		{"id zero", "/tasks/0/history", nil, nil, http.StatusBadRequest, "invalid_id", 0, 0},
		{"negative id", "/tasks/-3/history", nil, nil, http.StatusBadRequest, "invalid_id", 0, 0},
		{"fractional id", "/tasks/1.5/history", nil, nil, http.StatusBadRequest, "invalid_id", 0, 0},
		{"id overflows int64", "/tasks/99999999999999999999/history", nil, nil, http.StatusBadRequest, "invalid_id", 0, 0},
		{"limit zero", "/tasks/7/history?limit=0", nil, nil, http.StatusBadRequest, "invalid_query", 0, 0},
		{"limit over the maximum", "/tasks/7/history?limit=1001", nil, nil, http.StatusBadRequest, "invalid_query", 0, 0},
		{"bad percent-encoding", "/tasks/7/history?limit=%zz", nil, nil, http.StatusBadRequest, "invalid_query", 0, 0},
		{"cursor not base64", "/tasks/7/history?cursor=%21%21", nil, nil, http.StatusBadRequest, "invalid_cursor", 0, 0},
		{"cursor not ours", "/tasks/7/history?cursor=aGVsbG8", nil, nil, http.StatusBadRequest, "invalid_cursor", 0, 0},
		// base64url of "9999999999|2026-01-01T00:00:00Z|x": a version beyond the integer column.
		{"cursor version out of range", "/tasks/7/history?cursor=OTk5OTk5OTk5OXwyMDI2LTAxLTAxVDAwOjAwOjAwWnx4", nil, nil, http.StatusBadRequest, "invalid_cursor", 0, 0},
		// base64url of "-1|2026-01-01T00:00:00Z|x".
		{"cursor version negative", "/tasks/7/history?cursor=LTF8MjAyNi0wMS0wMVQwMDowMDowMFp8eA", nil, nil, http.StatusBadRequest, "invalid_cursor", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{history: tt.history, historyErr: tt.historyErr}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("dapr-api-token", appToken)
			w := httptest.NewRecorder()
			newHandler(rec, appToken).ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantTaskID == 0 && len(rec.historyIDs) != 0 {
				t.Errorf("History called with %v for a bad id", rec.historyIDs)
			}
			if tt.wantTaskID != 0 && !reflect.DeepEqual(rec.historyIDs, []int64{tt.wantTaskID}) {
				t.Errorf("History called with %v, want [%d]", rec.historyIDs, tt.wantTaskID)
			}
			if tt.wantCode != "" {
				var e struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Message == "" {
					t.Errorf("body = %s, want JSON error with code %q", w.Body, tt.wantCode)
				}
				return
			}
			var out struct {
				TaskID int64            `json:"task_id"`
				Events []auditapi.Entry `json:"events"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if out.TaskID != tt.wantTaskID || len(out.Events) != tt.wantEvents {
				t.Errorf("answer = %s", w.Body)
			}
			if !strings.Contains(w.Body.String(), `"events":[`) {
				t.Errorf("events is not a JSON array: %s", w.Body)
			}
			if tt.wantEvents == 1 && (out.Events[0].EventID != "ce-1" || string(out.Events[0].Data) != `{"task_id":7}`) {
				t.Errorf("event = %+v", out.Events[0])
			}
		})
	}
}

func TestReadyz(t *testing.T) {
	for _, tt := range []struct {
		name    string
		pingErr error
		want    int
	}{
		{"database up", nil, http.StatusOK},
		{"database down", errors.New("refused"), http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			newHandler(&fakeRecorder{pingErr: tt.pingErr}, appToken).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tt.want {
				t.Errorf("status = %d, want %d", w.Code, tt.want)
			}
		})
	}
}

// TestStore runs the real Store against PostgreSQL.
func TestStore(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := audit.Migrate(ctx, pool, log); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := audit.Migrate(ctx, pool, log); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	s := audit.NewStore(pool)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	base := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	ev := func(typ string, task int64, version int, at time.Time) events.TaskEvent {
		return events.TaskEvent{EventType: typ, TaskID: task, UserID: "user-1", Title: "t", Timestamp: at, Version: version}
	}
	raw := func(e events.TaskEvent) json.RawMessage { b, _ := json.Marshal(e); return b }

	t.Run("same id twice is stored once", func(t *testing.T) {
		e := ev(events.TaskCreated, 1, 1, base)
		for i, want := range []bool{true, false} {
			inserted, err := s.Record(ctx, "dup-id", e, raw(e))
			if err != nil {
				t.Fatalf("Record #%d: %v", i+1, err)
			}
			if inserted != want {
				t.Errorf("Record #%d inserted = %v, want %v", i+1, inserted, want)
			}
		}
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE event_id = 'dup-id'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("rows with event_id dup-id = %d, want 1", n)
		}
	})

	t.Run("history is ordered by version", func(t *testing.T) {
		// Recorded out of order, with timestamps that disagree with versions,
		// plus an event of another task.
		recorded := []struct {
			id string
			e  events.TaskEvent
		}{
			{"v3", ev(events.TaskCompleted, 2, 3, base.Add(1*time.Minute))},
			{"v1", ev(events.TaskCreated, 2, 1, base.Add(3*time.Minute))},
			{"other", ev(events.TaskCreated, 3, 2, base)},
			{"v2", ev(events.TaskUpdated, 2, 2, base.Add(2*time.Minute))},
		}
		for _, r := range recorded {
			if _, err := s.Record(ctx, r.id, r.e, raw(r.e)); err != nil {
				t.Fatalf("Record %s: %v", r.id, err)
			}
		}
		got, err := s.History(ctx, 2, nil, 100)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		var ids, types []string
		var versions []int
		for _, e := range got {
			ids = append(ids, e.EventID)
			types = append(types, e.EventType)
			versions = append(versions, e.Version)
		}
		if want := []string{"v1", "v2", "v3"}; !reflect.DeepEqual(ids, want) {
			t.Fatalf("history ids = %v, want %v", ids, want)
		}
		if want := []int{1, 2, 3}; !reflect.DeepEqual(versions, want) {
			t.Errorf("versions = %v, want %v", versions, want)
		}
		if want := []string{"TaskCreated", "TaskUpdated", "TaskCompleted"}; !reflect.DeepEqual(types, want) {
			t.Errorf("types = %v, want %v", types, want)
		}
		first := got[0]
		if !first.Timestamp.Equal(base.Add(3*time.Minute)) || first.Timestamp.Location() != time.UTC {
			t.Errorf("timestamp = %v, want %v in UTC", first.Timestamp, base.Add(3*time.Minute))
		}
		if first.ReceivedAt.IsZero() || first.ReceivedAt.Location() != time.UTC {
			t.Errorf("received_at = %v, want a UTC time", first.ReceivedAt)
		}
		var data events.TaskEvent
		if err := json.Unmarshal(first.Data, &data); err != nil || data.TaskID != 2 || data.EventType != events.TaskCreated {
			t.Errorf("data = %s (%v)", first.Data, err)
		}

		none, err := s.History(ctx, 999, nil, 100)
		if err != nil || len(none) != 0 {
			t.Errorf("History of an unknown task = %v, %v; want empty", none, err)
		}
	})
}

// A long history is served whole, page by page in version order, through
// the real handler over the real store: the newest events (TaskDeleted
// last) are not cut off, and every page stays within the byte bound.
func TestHistoryPagesThroughALongHistory(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := audit.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	store := audit.NewStore(pool)
	const n = 1200
	base := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	big := strings.Repeat("d", 3000)
	for v := 1; v <= n; v++ {
		typ := events.TaskUpdated
		switch v {
		case 1:
			typ = events.TaskCreated
		case n:
			typ = events.TaskDeleted
		}
		e := events.TaskEvent{EventType: typ, TaskID: 42, UserID: "u", Title: "t", Description: big,
			Timestamp: base.Add(time.Duration(v) * time.Second), Version: v}
		b, _ := json.Marshal(e)
		if _, err := store.Record(ctx, fmt.Sprintf("ev-%05d", v), e, b); err != nil {
			t.Fatal(err)
		}
	}
	h := (&audit.Handler{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AppToken: appToken}).Routes()
	for _, limit := range []int{auditapi.MaxHistoryLimit, 7} {
		var versions []int
		cursor, pages := "", 0
		for {
			path := fmt.Sprintf("/tasks/42/history?limit=%d", limit)
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("dapr-api-token", appToken)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
			if w.Body.Len() > 2*auditapi.HistoryPageBytes {
				t.Fatalf("page of %d bytes, want at most about %d", w.Body.Len(), auditapi.HistoryPageBytes)
			}
			var page struct {
				Events     []auditapi.Entry `json:"events"`
				NextCursor *string          `json:"next_cursor"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Events) == 0 || len(page.Events) > limit {
				t.Fatalf("page %d has %d events (limit %d)", pages, len(page.Events), limit)
			}
			for _, e := range page.Events {
				versions = append(versions, e.Version)
			}
			if page.NextCursor == nil {
				if last := page.Events[len(page.Events)-1]; last.EventType != events.TaskDeleted {
					t.Errorf("last event is %s, want TaskDeleted", last.EventType)
				}
				break
			}
			cursor = *page.NextCursor
		}
		if len(versions) != n {
			t.Fatalf("limit %d: %d events over %d pages, want %d", limit, len(versions), pages, n)
		}
		for i, v := range versions {
			if v != i+1 {
				t.Fatalf("limit %d: event %d has version %d, want %d", limit, i, v, i+1)
			}
		}
		if limit == auditapi.MaxHistoryLimit && pages < 3 {
			t.Errorf("limit %d: %d pages; the byte bound should have cut pages of 3 KB events", limit, pages)
		}
	}
}

package recurring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/contract/contracttest"
	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer/consumertest"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/recurring"
	"github.com/evolution-todo/todo/internal/telemetry"
)

const appToken = "app-secret"

// fakeInvoker is a dapr.Invoker that records its calls and answers
// resp (or err).
type fakeInvoker struct {
	mu    sync.Mutex
	resp  dapr.Response
	err   error
	calls []invokeCall
}

type invokeCall struct {
	appID, httpMethod, method string
	query                     url.Values
	body                      []byte // the body as it goes on the wire
}

func (f *fakeInvoker) Invoke(_ context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(body)
	if err != nil {
		return dapr.Response{}, err
	}
	f.calls = append(f.calls, invokeCall{appID, httpMethod, method, query, b})
	return f.resp, f.err
}

func newHandler(inv dapr.Invoker) http.Handler {
	h := &recurring.Handler{
		Dapr:      inv,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PubSub:    events.PubSubName,
		AppToken:  appToken,
		TodoAppID: "todo-api",
	}
	return h.Routes()
}

// completedData is the data of a TaskCompleted event of a daily task due
// 2026-03-10 09:00 in Berlin (08:00 UTC) with a reminder 30 minutes before.
func completedData() map[string]any {
	return map[string]any{
		"event_type":        "TaskCompleted",
		"task_id":           17,
		"user_id":           "user-1",
		"title":             "Water the plants",
		"timestamp":         "2026-03-10T10:00:00Z",
		"recurrence":        "daily",
		"description":       "all of them",
		"priority":          "high",
		"tags":              []string{"home", "garden"},
		"due_at":            "2026-03-10T08:00:00Z",
		"reminder_at":       "2026-03-10T07:30:00Z",
		"timezone":          "Europe/Berlin",
		"completed":         true,
		"completed_at":      "2026-03-10T10:00:00Z",
		"version":           4,
		"series_id":         17,
		"recurrence_anchor": nil,
	}
}

// deliveredEvent is a CloudEvent as the Dapr sidecar delivers it.
func deliveredEvent(id string, data map[string]any) map[string]any {
	typ, _ := data["event_type"].(string)
	return map[string]any{
		"specversion":     "1.0",
		"id":              id,
		"source":          "todo-api",
		"type":            events.CloudEventType(typ),
		"subject":         "17",
		"time":            "2026-03-10T10:00:00Z",
		"datacontenttype": "application/json",
		"topic":           events.TopicTaskEvents,
		"pubsubname":      events.PubSubName,
		"traceparent":     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"data":            data,
	}
}

func post(t *testing.T, h http.Handler, path string, body []byte) dapr.Status {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("dapr-api-token", appToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	var out struct {
		Status dapr.Status `json:"status"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer %q: %v", w.Body, err)
	}
	return out.Status
}

func deliverCompleted(t *testing.T, h http.Handler, data map[string]any) dapr.Status {
	t.Helper()
	b, err := json.Marshal(deliveredEvent("ce-1", data))
	if err != nil {
		t.Fatal(err)
	}
	return post(t, h, "/events/task-completed", b)
}

func TestNextOccurrenceRequest(t *testing.T) {
	tests := []struct {
		name   string
		change func(d map[string]any)
		// Expected members of the body sent to todo-api.
		wantDue, wantReminder any // string or nil
		wantAnchor            string
	}{
		{
			name:    "daily: due one day later, reminder offset kept, anchor = due",
			change:  func(map[string]any) {},
			wantDue: "2026-03-11T08:00:00Z", wantReminder: "2026-03-11T07:30:00Z", wantAnchor: "2026-03-10T08:00:00Z",
		},
		{
			name:    "daily keeps an existing anchor",
			change:  func(d map[string]any) { d["recurrence_anchor"] = "2026-03-01T08:00:00Z" },
			wantDue: "2026-03-11T08:00:00Z", wantReminder: "2026-03-11T07:30:00Z", wantAnchor: "2026-03-01T08:00:00Z",
		},
		{
			// 09:00 CET on Mar 28 -> 09:00 CEST on Mar 29 (07:00 UTC).
			name: "daily across the spring-forward change keeps local wall-clock time",
			change: func(d map[string]any) {
				d["due_at"], d["reminder_at"] = "2026-03-28T08:00:00Z", "2026-03-28T07:00:00Z"
			},
			wantDue: "2026-03-29T07:00:00Z", wantReminder: "2026-03-29T06:00:00Z", wantAnchor: "2026-03-28T08:00:00Z",
		},
		{
			name:    "no reminder stays without reminder",
			change:  func(d map[string]any) { d["reminder_at"] = nil },
			wantDue: "2026-03-11T08:00:00Z", wantReminder: nil, wantAnchor: "2026-03-10T08:00:00Z",
		},
		{
			name:    "no due date: next is one day after completion",
			change:  func(d map[string]any) { d["due_at"], d["reminder_at"] = nil, nil },
			wantDue: "2026-03-11T10:00:00Z", wantReminder: nil, wantAnchor: "2026-03-10T10:00:00Z",
		},
		{
			// The issue: completed 4 days late, the next reminder was
			// already in the past and the series kept a -4 day offset.
			name: "reminder without due date, completed 4 days late: next slot after the completion, no due date",
			change: func(d map[string]any) {
				d["due_at"], d["reminder_at"], d["completed_at"] = nil, "2026-03-06T17:00:00Z", "2026-03-10T10:00:00Z"
			},
			wantDue: nil, wantReminder: "2026-03-10T17:00:00Z", wantAnchor: "2026-03-06T17:00:00Z",
		},
		{
			name: "reminder without due date keeps the series' anchor",
			change: func(d map[string]any) {
				d["due_at"], d["reminder_at"], d["completed_at"] = nil, "2026-03-10T17:00:00Z", "2026-03-10T10:00:00Z"
				d["recurrence_anchor"] = "2026-03-01T17:00:00Z"
			},
			wantDue: nil, wantReminder: "2026-03-11T17:00:00Z", wantAnchor: "2026-03-01T17:00:00Z",
		},
		{
			// 02:30 Berlin does not exist on 2027-03-28 (03:30 CEST,
			// 01:30Z); the next day is 02:30 CEST again (00:30Z).
			name: "daily after the DST gap returns to the anchor's time of day",
			change: func(d map[string]any) {
				d["due_at"], d["reminder_at"] = "2027-03-28T01:30:00Z", "2027-03-28T01:00:00Z"
				d["recurrence_anchor"] = "2027-03-26T01:30:00Z"
			},
			wantDue: "2027-03-29T00:30:00Z", wantReminder: "2027-03-29T00:00:00Z", wantAnchor: "2027-03-26T01:30:00Z",
		},
		{
			name:    "weekly",
			change:  func(d map[string]any) { d["recurrence"] = "weekly" },
			wantDue: "2026-03-17T08:00:00Z", wantReminder: "2026-03-17T07:30:00Z", wantAnchor: "2026-03-10T08:00:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{resp: dapr.Response{Status: http.StatusCreated, Body: []byte(`{"id":18}`)}}
			data := completedData()
			tt.change(data)
			if got := deliverCompleted(t, newHandler(inv), data); got != dapr.Success {
				t.Errorf("status = %q, want %q", got, dapr.Success)
			}
			if len(inv.calls) != 1 {
				t.Fatalf("Invoke called %d times, want 1", len(inv.calls))
			}
			c := inv.calls[0]
			if c.appID != "todo-api" || c.httpMethod != http.MethodPost || c.method != "internal/tasks/17/next-occurrence" {
				t.Errorf("Invoke(%q, %q, %q), want (todo-api, POST, internal/tasks/17/next-occurrence)", c.appID, c.httpMethod, c.method)
			}
			if len(c.query) != 0 {
				t.Errorf("query = %v, want none", c.query)
			}
			var body map[string]any
			if err := json.Unmarshal(c.body, &body); err != nil {
				t.Fatalf("body %s: %v", c.body, err)
			}
			// The event's one reminder_at (an event of the version before
			// several reminders) is one absolute reminder.
			reminders := []any{}
			if tt.wantReminder != nil {
				reminders = append(reminders, map[string]any{"at": tt.wantReminder})
			}
			want := map[string]any{
				"user_id":           "user-1",
				"title":             "Water the plants",
				"description":       "all of them",
				"priority":          "high",
				"tags":              []any{"home", "garden"},
				"due_at":            tt.wantDue,
				"reminders":         reminders,
				"recurrence":        data["recurrence"],
				"series_index":      float64(2),
				"timezone":          "Europe/Berlin",
				"recurrence_anchor": tt.wantAnchor,
			}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("body = %s\nwant    %v", c.body, want)
			}
		})
	}
}

// Each event is one log line with the task, the rule, the trace and what
// came of it.
func TestLogLine(t *testing.T) {
	var buf bytes.Buffer
	inv := &fakeInvoker{resp: dapr.Response{Status: http.StatusOK, Body: []byte(`{"id":18}`)}}
	h := &recurring.Handler{Dapr: inv, Log: slog.New(slog.NewJSONHandler(&buf, nil)), PubSub: events.PubSubName,
		AppToken: appToken, TodoAppID: "todo-api"}
	b, _ := json.Marshal(deliveredEvent("ce-1", completedData()))
	req := httptest.NewRequest(http.MethodPost, "/events/task-completed", bytes.NewReader(b))
	req.Header.Set("dapr-api-token", appToken)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Routes().ServeHTTP(httptest.NewRecorder(), req)

	lines := consumertest.LogLines(t, buf.String(), "")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %s", len(lines), buf.String())
	}
	rec := lines[0]
	want := map[string]any{
		"msg": "recurring event", "event_id": "ce-1", "task_id": float64(17), "user_id": "user-1", "recurrence": "daily",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "next_task_id": float64(18), "due_at": "2026-03-11T08:00:00Z",
		"reminders": float64(1), "series_index": float64(2), "outcome": "already_created", "event_type": "TaskCompleted",
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v (line %s)", k, rec[k], v, lines[0])
		}
	}
}

func TestTodoAPIAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    error
		want   dapr.Status
	}{
		{"201 created", http.StatusCreated, nil, dapr.Success},
		{"200 already created", http.StatusOK, nil, dapr.Success},
		{"400 invalid content can never succeed", http.StatusBadRequest, nil, dapr.Drop},
		{"404 task unknown", http.StatusNotFound, nil, dapr.Drop},
		{"409 conflict", http.StatusConflict, nil, dapr.Drop},
		{"422 unprocessable", http.StatusUnprocessableEntity, nil, dapr.Drop},
		{"429 is transient", http.StatusTooManyRequests, nil, dapr.Retry},
		{"401 is a configuration problem, not the event's", http.StatusUnauthorized, nil, dapr.Retry},
		{"403 likewise", http.StatusForbidden, nil, dapr.Retry},
		{"500", http.StatusInternalServerError, nil, dapr.Retry},
		{"502", http.StatusBadGateway, nil, dapr.Retry},
		{"503", http.StatusServiceUnavailable, nil, dapr.Retry},
		{"transport error", 0, errors.New("connection refused"), dapr.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{resp: dapr.Response{Status: tt.status, Body: []byte(`{"id":18}`)}, err: tt.err}
			if got := deliverCompleted(t, newHandler(inv), completedData()); got != tt.want {
				t.Errorf("status = %q, want %q", got, tt.want)
			}
			if len(inv.calls) != 1 {
				t.Errorf("Invoke called %d times, want 1", len(inv.calls))
			}
		})
	}
}

// Events that need no next occurrence, or can never get one, do not reach
// todo-api.
func TestNoInvoke(t *testing.T) {
	tests := []struct {
		name   string
		change func(d map[string]any)
		want   dapr.Status
	}{
		{"recurrence none", func(d map[string]any) { d["recurrence"] = string(recurrence.None) }, dapr.Success},
		{"recurrence empty", func(d map[string]any) { d["recurrence"] = "" }, dapr.Success},
		{"missing completed_at", func(d map[string]any) { delete(d, "completed_at") }, dapr.Drop},
		{"null completed_at", func(d map[string]any) { d["completed_at"] = nil }, dapr.Drop},
		{"unknown time zone", func(d map[string]any) { d["timezone"] = "Mars/Olympus_Mons" }, dapr.Drop},
		{"empty time zone", func(d map[string]any) { d["timezone"] = "" }, dapr.Drop},
		{"unknown rule", func(d map[string]any) { d["recurrence"] = "hourly" }, dapr.Drop},
		{"routed a TaskUpdated", func(d map[string]any) { d["event_type"] = "TaskUpdated" }, dapr.Drop},
		{"unknown event_type", func(d map[string]any) { d["event_type"] = "TaskArchived" }, dapr.Drop},
		{"task_id as a string", func(d map[string]any) { d["task_id"] = "17" }, dapr.Drop},
		{"missing user_id", func(d map[string]any) { delete(d, "user_id") }, dapr.Drop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{resp: dapr.Response{Status: http.StatusCreated}}
			data := completedData()
			tt.change(data)
			if got := deliverCompleted(t, newHandler(inv), data); got != tt.want {
				t.Errorf("status = %q, want %q", got, tt.want)
			}
			if len(inv.calls) != 0 {
				t.Errorf("Invoke called %d times, want 0", len(inv.calls))
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	got := consumertest.Subscriptions(t, newHandler(&fakeInvoker{}), appToken)
	want := []dapr.Subscription{{
		PubSubName: "kafka-pubsub",
		Topic:      "task-events",
		Routes: dapr.Routes{
			Rules:   []dapr.Rule{{Match: `event.data.event_type == "TaskCompleted"`, Path: "/events/task-completed"}},
			Default: "/events/other",
		},
		DeadLetterTopic: "task-events-dlq",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions = %+v\nwant %+v", got, want)
	}
}

// The default route acknowledges every other event type without looking
// at it, so that it is not dead-lettered; the types this version does not
// know are counted as ignored.
func TestOtherEventsAreAcknowledged(t *testing.T) {
	body := func(typ string) []byte {
		data := completedData()
		data["event_type"] = typ
		b, _ := json.Marshal(deliveredEvent("ce-2", data))
		return b
	}
	for _, tt := range []struct {
		name    string
		body    []byte
		ignored float64 // counted as of an unknown type, ignored
	}{
		{"TaskCreated", body("TaskCreated"), 0},
		{"an unknown type", body("TaskArchived"), 1},
		{"anything", []byte("not even json"), 1},
		{"over 1 MiB", bytes.Repeat([]byte("x"), dapr.MaxEventBytes+1), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{}
			tm := telemetry.NewMetrics("recurring-service")
			h := &recurring.Handler{Dapr: inv, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PubSub: events.PubSubName,
				AppToken: appToken, TodoAppID: "todo-api", Telemetry: tm}
			if got := post(t, h.Routes(), "/events/other", tt.body); got != dapr.Success {
				t.Errorf("status = %q, want %q", got, dapr.Success)
			}
			if len(inv.calls) != 0 {
				t.Errorf("Invoke called %d times, want 0", len(inv.calls))
			}
			if got := consumertest.EventCount(t, tm, events.TopicTaskEvents, "unknown", "ignored"); got != tt.ignored {
				t.Errorf("%v events counted unknown and ignored, want %v", got, tt.ignored)
			}
		})
	}
}

func TestAppToken(t *testing.T) {
	body, _ := json.Marshal(deliveredEvent("ce-1", completedData()))
	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		// The suite covers the deliveries and /dapr/subscribe.
		{"other without token", http.MethodPost, "/events/other", "", http.StatusUnauthorized},
		{"healthz is open", http.MethodGet, "/healthz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &fakeInvoker{resp: dapr.Response{Status: http.StatusCreated}}
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(string(body)))
			if tt.token != "" {
				req.Header.Set("dapr-api-token", tt.token)
			}
			w := httptest.NewRecorder()
			newHandler(inv).ServeHTTP(w, req)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.want, w.Body)
			}
			if tt.want == http.StatusUnauthorized && len(inv.calls) != 0 {
				t.Error("an unauthorized delivery reached todo-api")
			}
		})
	}
}

// fakeTodoAPI is todo-api's next-occurrence route: one next occurrence per
// completed task, the same one again for a second call (200), and 503
// while failing.
type fakeTodoAPI struct {
	mu      sync.Mutex
	fail    bool
	next    map[int64]int64 // previous task id -> next task id
	created int
}

func (f *fakeTodoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+todointernal.PatternNextOccurrence, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		prev, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		var body todointernal.NextOccurrence
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err != nil || dec.Decode(&body) != nil || body.UserID == "" || body.Recurrence == "" {
			http.Error(w, `{"error":{"code":"invalid_body"}}`, http.StatusBadRequest)
			return
		}
		if f.fail {
			http.Error(w, `{"error":{"code":"unavailable"}}`, http.StatusServiceUnavailable)
			return
		}
		status := http.StatusOK
		if _, ok := f.next[prev]; !ok {
			f.created++
			f.next[prev] = 1000 + int64(f.created)
			status = http.StatusCreated
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(todointernal.Created{ID: f.next[prev]})
	})
	mux.ServeHTTP(w, r)
}

func TestConsumerSuite(t *testing.T) {
	consumertest.Run(t, func(t *testing.T) consumertest.Consumer {
		todo := &fakeTodoAPI{next: map[int64]int64{}}
		h := &recurring.Handler{
			Dapr:      contracttest.Invoker{Apps: map[string]http.Handler{todointernal.AppID: todo}},
			Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
			PubSub:    events.PubSubName,
			AppToken:  appToken,
			TodoAppID: todointernal.AppID,
		}
		tasks := map[string]int64{} // event id -> completed task
		return consumertest.Consumer{
			Handler: h.Routes(), AppToken: appToken, Path: "/events/task-completed", Topic: events.TopicTaskEvents,
			Event: func(id string) []byte {
				if tasks[id] == 0 {
					tasks[id] = int64(len(tasks) + 1)
				}
				data := completedData()
				data["task_id"] = tasks[id]
				b, err := json.Marshal(deliveredEvent(id, data))
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			Effects: func(*testing.T) int {
				todo.mu.Lock()
				defer todo.mu.Unlock()
				return todo.created
			},
			FailStorage: func(fail bool) {
				todo.mu.Lock()
				defer todo.mu.Unlock()
				todo.fail = fail
			},
		}
	})
}

// Next over the fields of several reminders and rules: the next date, the
// occurrence's number, whether it is the last, and the reminders it
// carries (relative ones as they are, absolute ones moved with the due
// time).
func TestNextWithRules(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(y int, m time.Month, d, h, min int) *time.Time {
		v := time.Date(y, m, d, h, min, 0, 0, berlin).UTC()
		return &v
	}
	str := func(s string) *string { return &s }
	// A task due Monday 4 January 2027 at 09:00 in Berlin, closed on time.
	base := func() events.TaskEvent {
		return events.TaskEvent{EventType: events.TaskCompleted, TaskID: 5, UserID: "u", Title: "t", Timezone: "Europe/Berlin",
			Recurrence: "weekly", RRule: str("FREQ=WEEKLY;BYDAY=MO,TH"), RepeatFrom: "due", SeriesIndex: 1,
			DueAt: at(2027, 1, 4, 9, 0), CompletedAt: at(2027, 1, 4, 10, 0), Completed: true,
			Reminders: []events.ReminderSpec{{Before: "PT15M"}, {At: at(2027, 1, 3, 20, 0)}}}
	}
	tests := []struct {
		name      string
		change    func(e *events.TaskEvent)
		wantNone  bool
		wantDue   *time.Time
		wantIndex int
		wantLast  bool
		wantAt    *time.Time // the absolute reminder, moved
	}{
		{name: "Monday and Thursday: the Thursday", change: func(*events.TaskEvent) {},
			wantDue: at(2027, 1, 7, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 6, 20, 0)},
		{name: "skipped goes on as completed", change: func(e *events.TaskEvent) { e.Skipped = true },
			wantDue: at(2027, 1, 7, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 6, 20, 0)},
		{name: "closed late, from due: the schedule's next after the closed one",
			change:  func(e *events.TaskEvent) { e.CompletedAt = at(2027, 1, 20, 12, 0) },
			wantDue: at(2027, 1, 7, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 6, 20, 0)},
		{name: "closed late, from completion: the rule's first after the closing",
			change: func(e *events.TaskEvent) {
				e.RepeatFrom, e.CompletedAt = "completion", at(2027, 1, 20, 12, 0) // a Wednesday
			},
			wantDue: at(2027, 1, 21, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 20, 20, 0)},
		{name: "every 3 days from completion, 4 days late",
			change: func(e *events.TaskEvent) {
				e.RRule, e.Recurrence, e.RepeatFrom, e.CompletedAt = str("FREQ=DAILY;INTERVAL=3"), "daily", "completion", at(2027, 1, 8, 18, 0)
			},
			wantDue: at(2027, 1, 11, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 10, 20, 0)},
		{name: "the second of COUNT=3: the next is the last",
			change: func(e *events.TaskEvent) {
				e.RRule, e.SeriesIndex, e.RecurrenceAnchor = str("FREQ=WEEKLY;COUNT=3;BYDAY=MO,TH"), 2, e.DueAt
				e.DueAt = at(2027, 1, 7, 9, 0)
			},
			wantDue: at(2027, 1, 11, 9, 0), wantIndex: 3, wantLast: true, wantAt: at(2027, 1, 7, 20, 0)},
		{name: "the last of its series", change: func(e *events.TaskEvent) { e.LastInSeries, e.Recurrence = true, "none" }, wantNone: true},
		{name: "UNTIL passed", change: func(e *events.TaskEvent) { e.RRule = str("FREQ=WEEKLY;UNTIL=20270105T000000Z;BYDAY=MO,TH") }, wantNone: true},
		{name: "UNTIL at the next one: it is the last",
			change:  func(e *events.TaskEvent) { e.RRule = str("FREQ=WEEKLY;UNTIL=20270107T080000Z;BYDAY=MO,TH") },
			wantDue: at(2027, 1, 7, 9, 0), wantIndex: 2, wantLast: true, wantAt: at(2027, 1, 6, 20, 0)},
		{name: "the last Friday of the month",
			change: func(e *events.TaskEvent) {
				e.RRule, e.Recurrence, e.DueAt = str("FREQ=MONTHLY;BYDAY=-1FR"), "monthly", at(2027, 1, 29, 9, 0)
				e.CompletedAt = e.DueAt
			},
			wantDue: at(2027, 2, 26, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 31, 20, 0)}, // 28 days on
		{name: "the first in a DST gap: later ones at DTSTART's time of day",
			change: func(e *events.TaskEvent) {
				// From Saturday 27 March 02:30; Sunday 28 March 02:30 does
				// not exist, so the first is 03:30 CEST.
				e.RRule, e.RecurrenceAnchor = str("FREQ=WEEKLY;BYDAY=SU"), at(2027, 3, 27, 2, 30)
				due := time.Date(2027, 3, 28, 1, 30, 0, 0, time.UTC)
				e.DueAt, e.CompletedAt = &due, &due
			},
			wantDue: at(2027, 4, 4, 2, 30), wantIndex: 2, wantAt: at(2027, 1, 10, 19, 0)}, // 6 days 23 hours on
		{name: "a simple daily repeat from completion, 4 days late",
			change: func(e *events.TaskEvent) {
				e.RRule, e.Recurrence, e.RepeatFrom, e.CompletedAt = nil, "daily", "completion", at(2027, 1, 8, 18, 0)
			},
			wantDue: at(2027, 1, 9, 9, 0), wantIndex: 2, wantAt: at(2027, 1, 8, 20, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base()
			tt.change(&e)
			got, ok, err := recurring.Next(e)
			if err != nil {
				t.Fatal(err)
			}
			if ok == tt.wantNone {
				t.Fatalf("Next gave one: %v, want %v (%+v)", ok, !tt.wantNone, got)
			}
			if tt.wantNone {
				return
			}
			if got.DueAt == nil || !got.DueAt.Equal(*tt.wantDue) || got.SeriesIndex != tt.wantIndex || got.LastInSeries != tt.wantLast {
				t.Errorf("next due %v index %d last %v, want %v %d %v", got.DueAt, got.SeriesIndex, got.LastInSeries, tt.wantDue, tt.wantIndex, tt.wantLast)
			}
			if len(got.Reminders) != 2 || got.Reminders[0].Before != "PT15M" || got.Reminders[1].At == nil || !got.Reminders[1].At.Equal(*tt.wantAt) {
				t.Errorf("reminders %+v, want PT15M before and at %v", got.Reminders, tt.wantAt)
			}
		})
	}
}

// An event of this version reads reminder_at as the next reminder still
// to send, not as a reminder: its reminders list is what carries over.
func TestNextKeepsTheRemindersList(t *testing.T) {
	due := time.Date(2027, 1, 4, 8, 0, 0, 0, time.UTC)
	pending := due.Add(-time.Hour)
	e := events.TaskEvent{EventType: events.TaskCompleted, TaskID: 5, UserID: "u", Title: "t", Timezone: "UTC", Recurrence: "daily",
		DueAt: &due, CompletedAt: &due, ReminderAt: &pending, Reminders: []events.ReminderSpec{}}
	got, ok, err := recurring.Next(e)
	if err != nil || !ok {
		t.Fatalf("Next: %v %v", ok, err)
	}
	if len(got.Reminders) != 0 {
		t.Errorf("reminders %+v, want none", got.Reminders)
	}
}

package consumer_test

import (
	"bytes"
	"context"
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

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/dapr/consumer/consumertest"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// memory is the smallest consumer: it keeps the ids of the task events it
// handled, and its storage fails when told to.
type memory struct {
	mu   sync.Mutex
	ids  map[string]bool
	fail bool
}

func (m *memory) handle(_ context.Context, d *consumer.Delivery, _ events.TaskEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("storage down")
	}
	if m.ids[d.ID] {
		d.Outcome("duplicate")
		return nil
	}
	m.ids[d.ID] = true
	d.Outcome("stored")
	return nil
}

func taskEvent(id, eventType string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"todo-api","type":"todo.%s.v1",`+
		`"datacontenttype":"application/json","data":{"event_type":%q,"task_id":7,"user_id":"alice",`+
		`"title":"t","timestamp":"2026-01-02T03:04:05Z"}}`, id, eventType, eventType)
}

func newApp(m *memory, log *slog.Logger, tm *telemetry.Metrics) *consumer.App {
	return &consumer.App{
		Name: "memory", PubSub: "kafka-pubsub", AppToken: "secret", Log: log, Telemetry: tm,
		Subscriptions: []consumer.Subscription{{
			Topic: events.TopicTaskEvents, Path: "/events/task-events", DeadLetterTopic: "task-events-dlq",
			LogMessage: "memory event", Handle: consumer.TaskEvents(m.handle),
		}},
	}
}

func TestSuiteOnTheSmallestConsumer(t *testing.T) {
	consumertest.Run(t, func(t *testing.T) consumertest.Consumer {
		m := &memory{ids: map[string]bool{}}
		return consumertest.Consumer{
			Handler: newApp(m, slog.New(slog.DiscardHandler), nil).Handler(), AppToken: "secret",
			Path: "/events/task-events", Topic: events.TopicTaskEvents,
			Event:       func(id string) []byte { return taskEvent(id, events.TaskCreated) },
			Effects:     func(*testing.T) int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.ids) },
			FailStorage: func(fail bool) { m.mu.Lock(); m.fail = fail; m.mu.Unlock() },
		}
	})
}

func TestOneLogLineAndOneCountPerEvent(t *testing.T) {
	var logs bytes.Buffer
	tm := telemetry.NewMetrics("test")
	m := &memory{ids: map[string]bool{}}
	h := newApp(m, slog.New(slog.NewJSONHandler(&logs, nil)), tm).Handler()
	deliver := func(body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/events/task-events", bytes.NewReader(body))
		req.Header.Set("dapr-api-token", "secret")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	deliver(taskEvent("a", events.TaskCreated))
	deliver(taskEvent("a", events.TaskCreated))
	deliver(taskEvent("b", "TaskArchived"))
	deliver([]byte(`{}`))
	m.fail = true
	deliver(taskEvent("c", events.TaskUpdated))

	for _, c := range []struct {
		eventType, outcome string
	}{{"TaskCreated", "stored"}, {"TaskCreated", "duplicate"}, {"unknown", "stored"}, {"malformed", "dropped"}, {"TaskUpdated", "retry"}} {
		if got := consumertest.EventCount(t, tm, events.TopicTaskEvents, c.eventType, c.outcome); got != 1 {
			t.Errorf("events{%s,%s} = %v, want 1", c.eventType, c.outcome, got)
		}
	}
	lines := consumertest.LogLines(t, logs.String(), "")
	want := []struct{ msg, id, eventType, outcome string }{
		{"memory event", "a", "TaskCreated", "stored"},
		{"memory event", "a", "TaskCreated", "duplicate"},
		{"memory event", "b", "TaskArchived", "stored"},
		{"event dropped to the dead-letter topic", "", "", "dropped"},
		{"event failed, asking for redelivery", "c", "TaskUpdated", "retry"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		l := lines[i]
		if l["msg"] != w.msg || l["event_id"] != w.id || l["event_type"] != w.eventType || l["outcome"] != w.outcome {
			t.Errorf("line %d = %v, want %+v", i, l, w)
		}
		if w.id != "" && l["task_id"] != float64(7) {
			t.Errorf("line %d has no task_id: %v", i, l)
		}
	}
}

func TestReminderOfAnUnknownTypeIsAcknowledged(t *testing.T) {
	called := 0
	app := &consumer.App{Name: "n", PubSub: "p", Log: slog.New(slog.DiscardHandler), Subscriptions: []consumer.Subscription{{
		Topic: events.TopicReminders, Path: "/r", DeadLetterTopic: "reminders-dlq",
		Handle: consumer.Reminders(func(context.Context, *consumer.Delivery, events.ReminderEvent) error { called++; return nil }),
	}}}
	body := `{"specversion":"1.0","id":"x","source":"s","type":"t","datacontenttype":"application/json",` +
		`"data":{"event_type":"ReminderSnoozed","task_id":1,"user_id":"u","reminder_at":"2026-01-01T00:00:00Z"}}`
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/r", strings.NewReader(body)))
	if !strings.Contains(rec.Body.String(), `"SUCCESS"`) || called != 0 {
		t.Errorf("answer %s, handler called %d times; want SUCCESS without calling it", rec.Body, called)
	}
}

// A body over the bound is dropped, unless the subscription acknowledges
// what it cannot read; then it is counted ignored and the handler is not
// called.
func TestAckUnreadable(t *testing.T) {
	big := bytes.Repeat([]byte("x"), dapr.MaxEventBytes+1)
	for _, ack := range []bool{false, true} {
		called := 0
		tm := telemetry.NewMetrics("test")
		app := &consumer.App{Name: "n", PubSub: "p", Log: slog.New(slog.DiscardHandler), Telemetry: tm,
			Subscriptions: []consumer.Subscription{{
				Topic: events.TopicTaskEvents, Path: "/other", DeadLetterTopic: "task-events-dlq", Raw: true, AckUnreadable: ack,
				Handle: func(context.Context, *consumer.Delivery) error { called++; return nil },
			}}}
		rec := httptest.NewRecorder()
		app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/other", bytes.NewReader(big)))
		want, eventType, outcome := `"DROP"`, "malformed", "dropped"
		if ack {
			want, eventType, outcome = `"SUCCESS"`, "unknown", "ignored"
		}
		if !strings.Contains(rec.Body.String(), want) || called != 0 {
			t.Errorf("AckUnreadable %v: answer %s, handler called %d times; want %s without calling it", ack, rec.Body, called, want)
		}
		if got := consumertest.EventCount(t, tm, events.TopicTaskEvents, eventType, outcome); got != 1 {
			t.Errorf("AckUnreadable %v: events{%s,%s} = %v, want 1", ack, eventType, outcome, got)
		}
	}
}

func TestSubscriptionsOfOneTopicAreOneDaprSubscription(t *testing.T) {
	nop := func(context.Context, *consumer.Delivery) error { return nil }
	app := &consumer.App{PubSub: "ps", Subscriptions: []consumer.Subscription{
		{Topic: "a", Match: `event.data.x == 1`, Path: "/one", DeadLetterTopic: "a-dlq", Handle: nop},
		{Topic: "b", Path: "/b", NoDeadLetter: true, Raw: true, Handle: nop},
		{Topic: "a", Path: "/other", DeadLetterTopic: "a-dlq", Raw: true, Handle: nop},
		{Topic: "a", Match: `event.data.x == 2`, Path: "/two", DeadLetterTopic: "a-dlq", Handle: nop},
	}}
	want := []dapr.Subscription{
		{PubSubName: "ps", Topic: "a", DeadLetterTopic: "a-dlq", Routes: dapr.Routes{Default: "/other",
			Rules: []dapr.Rule{{Match: `event.data.x == 1`, Path: "/one"}, {Match: `event.data.x == 2`, Path: "/two"}}}},
		{PubSubName: "ps", Topic: "b", Routes: dapr.Routes{Default: "/b"}},
	}
	if got := app.DaprSubscriptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions\n got %+v\nwant %+v", got, want)
	}
	for name, subs := range map[string][]consumer.Subscription{
		"no dead-letter topic": {{Topic: "a", Path: "/a", Handle: nop}},
		"two defaults":         {{Topic: "a", Path: "/a", DeadLetterTopic: "d", Handle: nop}, {Topic: "a", Path: "/b", DeadLetterTopic: "d", Handle: nop}},
		"two dead-letter topics": {{Topic: "a", Path: "/a", DeadLetterTopic: "d", Handle: nop},
			{Topic: "a", Match: "x", Path: "/b", DeadLetterTopic: "e", Handle: nop}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			(&consumer.App{Subscriptions: subs}).DaprSubscriptions()
		}()
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad")
	if consumer.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	err := fmt.Errorf("wrapped: %w", consumer.Permanent(base))
	if !consumer.IsPermanent(err) || !errors.Is(err, base) || consumer.IsPermanent(base) {
		t.Errorf("IsPermanent/Is do not see through the wrapping")
	}
}

// BenchmarkDeliverTaskEvent is the app side of one delivery of a task
// event, as the sidecar makes it: the app token check, the body read, the
// CloudEvent and its data decoded, the handler, the metrics and the log
// line (at warn, as the bench runs the services). The per-event CPU of
// every consumer starts here (docs/benchmarks.md).
func BenchmarkDeliverTaskEvent(b *testing.B) {
	m := &memory{ids: map[string]bool{}}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := newApp(m, log, telemetry.NewMetrics("bench")).Handler()
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = taskEvent(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), events.TaskCreated)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest(http.MethodPost, "/events/task-events", bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("dapr-api-token", "secret")
		req.Header.Set("Content-Type", "application/cloudevents+json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

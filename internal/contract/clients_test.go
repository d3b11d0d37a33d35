package contract_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/contract/notifierapi"
	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
)

// recorder answers every call with status and body and records it.
type recorder struct {
	status int
	body   string
	got    []call
}

type call struct {
	app, httpMethod, method string
	query                   url.Values
	body                    string
}

func (r *recorder) Invoke(_ context.Context, app, httpMethod, method string, q url.Values, body any) (dapr.Response, error) {
	b := ""
	if body != nil {
		raw, _ := json.Marshal(body)
		b = string(raw)
	}
	r.got = append(r.got, call{app, httpMethod, method, q, b})
	return dapr.Response{Status: r.status, Body: []byte(r.body)}, nil
}

func TestClientsSendTheContract(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 30, 0, 5, time.FixedZone("x", 3600))
	cases := []struct {
		name   string
		status int
		answer string
		do     func(inv dapr.Invoker) (any, error)
		want   call
		result any
	}{{
		name: "next occurrence", status: http.StatusCreated, answer: `{"id":42,"title":"t"}`,
		do: func(inv dapr.Invoker) (any, error) {
			id, created, err := todointernal.Client{Dapr: inv}.NextOccurrence(context.Background(), 17,
				todointernal.NextOccurrence{UserID: "u", Recurrence: "daily", RecurrenceAnchor: at.UTC()})
			return [2]any{id, created}, err
		},
		want: call{"todo-api", "POST", "internal/tasks/17/next-occurrence", nil,
			`{"user_id":"u","title":"","description":"","priority":"","tags":null,"due_at":null,"reminders":null,` +
				`"recurrence":"daily","timezone":"","recurrence_anchor":"2026-03-29T00:30:00.000000005Z"}`},
		result: [2]any{int64(42), true},
	}, {
		name: "next occurrence already made", status: http.StatusOK, answer: `{"id":42}`,
		do: func(inv dapr.Invoker) (any, error) {
			id, created, err := todointernal.Client{Dapr: inv, AppID: "todo"}.NextOccurrence(context.Background(), 1, todointernal.NextOccurrence{})
			return [2]any{id, created}, err
		},
		want:   call{"todo", "POST", "internal/tasks/1/next-occurrence", nil, ""},
		result: [2]any{int64(42), false},
	}, {
		name: "due reminders after a position", status: 200, answer: `{"reminders":[{"task_id":3,"user_id":"u","title":"t","due_at":null,"reminder_at":"2026-01-01T00:00:00Z"}]}`,
		do: func(inv dapr.Invoker) (any, error) {
			return todointernal.Client{Dapr: inv}.Due(context.Background(), todointernal.DueQuery{
				Before: at, Limit: 500, After: &todointernal.ReminderRef{TaskID: 9, ReminderAt: at}})
		},
		want: call{"todo-api", "GET", "internal/reminders/due", url.Values{"before": {"2026-03-29T00:30:00.000000005Z"},
			"limit": {"500"}, "after_at": {"2026-03-29T00:30:00.000000005Z"}, "after_id": {"9"}}, ""},
		result: []todointernal.Reminder{{TaskID: 3, UserID: "u", Title: "t", ReminderAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}, {
		name: "reminders sent", status: 200, answer: `{"marked":1}`,
		do: func(inv dapr.Invoker) (any, error) {
			return todointernal.Client{Dapr: inv}.Sent(context.Background(), []todointernal.ReminderRef{{TaskID: 3, ReminderAt: at.UTC()}})
		},
		want:   call{"todo-api", "POST", "internal/reminders/sent", nil, `{"reminders":[{"task_id":3,"reminder_at":"2026-03-29T00:30:00.000000005Z"}]}`},
		result: 1,
	}, {
		name: "reminders released", status: 200, answer: `{"released":2}`,
		do: func(inv dapr.Invoker) (any, error) {
			return todointernal.Client{Dapr: inv}.Release(context.Background(), []todointernal.ReminderRef{})
		},
		want:   call{"todo-api", "POST", "internal/reminders/released", nil, `{"reminders":[]}`},
		result: 2,
	}, {
		name: "history page", status: 200, answer: `{"task_id":5,"events":[],"next_cursor":"abc"}`,
		do: func(inv dapr.Invoker) (any, error) {
			return auditapi.Client{Dapr: inv}.History(context.Background(), 5, auditapi.HistoryQuery{Cursor: "c_1", Limit: 10})
		},
		want:   call{"audit-service", "GET", "tasks/5/history", url.Values{"cursor": {"c_1"}, "limit": {"10"}}, ""},
		result: auditapi.HistoryPage{TaskID: 5, Events: []auditapi.Entry{}, NextCursor: ptr("abc")},
	}, {
		name: "dead letters", status: 200, answer: `{"dead_letters":[]}`,
		do: func(inv dapr.Invoker) (any, error) {
			return auditapi.Client{Dapr: inv}.DeadLetters(context.Background(), "reminders-dlq", 0)
		},
		want:   call{"audit-service", "GET", "dead-letters", url.Values{"topic": {"reminders-dlq"}}, ""},
		result: []auditapi.DeadLetter{},
	}, {
		name: "inbox", status: 200, answer: `{"notifications":[],"next_cursor":null,"unread":3}`,
		do: func(inv dapr.Invoker) (any, error) {
			return notifierapi.Client{Dapr: inv}.Inbox(context.Background(), notifierapi.InboxQuery{UserID: "a/../b", Limit: 2})
		},
		want:   call{"notification-service", "GET", "inbox", url.Values{"user_id": {"a/../b"}, "limit": {"2"}}, ""},
		result: notifierapi.InboxPage{Notifications: []notifierapi.Notification{}, Unread: 3},
	}, {
		name: "mark read", status: 200, answer: `{"id":"n","task_id":1}`,
		do: func(inv dapr.Invoker) (any, error) {
			return notifierapi.Client{Dapr: inv}.MarkRead(context.Background(), "u", "n")
		},
		want:   call{"notification-service", "POST", "inbox/read", nil, `{"user_id":"u","id":"n"}`},
		result: notifierapi.Notification{ID: "n", TaskID: 1},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{status: c.status, body: c.answer}
			got, err := c.do(rec)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.got) != 1 {
				t.Fatalf("%d calls, want 1", len(rec.got))
			}
			g := rec.got[0]
			if len(g.query) == 0 {
				g.query = nil
			}
			if c.want.body == "" {
				g.body = ""
			}
			if !reflect.DeepEqual(g, c.want) {
				t.Errorf("call\n got %+v\nwant %+v", g, c.want)
			}
			if !reflect.DeepEqual(got, c.result) {
				t.Errorf("result\n got %#v\nwant %#v", got, c.result)
			}
		})
	}
}

func TestClientsReturnTheAppsRefusal(t *testing.T) {
	rec := &recorder{status: http.StatusBadRequest, body: `{"error":{"code":"invalid_cursor"}}`}
	_, err := auditapi.Client{Dapr: rec}.History(context.Background(), 1, auditapi.HistoryQuery{Cursor: "x"})
	var ae *dapr.AppError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !ae.Client() || string(ae.Body) != rec.body {
		t.Fatalf("err = %v, want an *dapr.AppError 400 with the body", err)
	}
	for status, permanent := range map[int]bool{400: true, 404: true, 422: true, 401: false, 403: false, 429: false, 500: false, 503: false} {
		if got := (&dapr.AppError{Status: status}).Client(); got != permanent {
			t.Errorf("AppError{%d}.Client() = %v, want %v", status, got, permanent)
		}
	}
}

func ptr[T any](v T) *T { return &v }

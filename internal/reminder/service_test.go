package reminder_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/reminder"
)

const appToken = "app-secret"

var now = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// dueItem is one reminder as todo-api lists it on internal/reminders/due.
type dueItem struct {
	TaskID     int64      `json:"task_id"`
	UserID     string     `json:"user_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	ReminderAt time.Time  `json:"reminder_at"`
}

// published is one PublishCloudEvent call.
type published struct {
	pubsub, topic string
	body          []byte
	metadata      map[string]string
}

// fakeSidecar is a reminder.Sidecar standing in for todo-api (through
// service invocation) and the pub/sub component. ops is the order of what
// happened: "list", "publish <task>", "mark <task>".
type fakeSidecar struct {
	mu sync.Mutex

	pages       [][]dueItem // answers of successive list calls; then empty pages
	listErr     error       // transport error of the list call
	listStatus  int         // when not 0, the status of the list answer
	failPublish map[int64]bool
	markStatus  int // when not 0, the status of the mark answer

	listQueries []url.Values
	published   []published
	marked      []map[string]any
	ops         []string

	// listEntered, when set, receives a value when a list call starts, which
	// then waits for listRelease.
	listEntered chan struct{}
	listRelease chan struct{}
}

func (f *fakeSidecar) Invoke(_ context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error) {
	if appID != "todo-api" {
		return dapr.Response{}, fmt.Errorf("invoke of unexpected app %q", appID)
	}
	switch {
	case httpMethod == http.MethodGet && method == "internal/reminders/due":
		if f.listEntered != nil {
			f.listEntered <- struct{}{}
			<-f.listRelease
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.ops = append(f.ops, "list")
		f.listQueries = append(f.listQueries, query)
		if f.listErr != nil {
			return dapr.Response{}, f.listErr
		}
		if f.listStatus != 0 {
			return dapr.Response{Status: f.listStatus, Body: []byte(`{"error":{"code":"internal"}}`)}, nil
		}
		var page []dueItem
		if n := len(f.listQueries); n <= len(f.pages) {
			page = f.pages[n-1]
		}
		b, _ := json.Marshal(map[string]any{"reminders": page})
		return dapr.Response{Status: http.StatusOK, Body: b}, nil
	case httpMethod == http.MethodPost && method == "internal/reminders/sent":
		f.mu.Lock()
		defer f.mu.Unlock()
		b, err := json.Marshal(body)
		if err != nil {
			return dapr.Response{}, err
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		f.ops = append(f.ops, fmt.Sprintf("mark %v", m["task_id"]))
		if f.markStatus != 0 {
			return dapr.Response{Status: f.markStatus}, nil
		}
		f.marked = append(f.marked, m)
		return dapr.Response{Status: http.StatusOK, Body: []byte(`{"marked":true}`)}, nil
	}
	return dapr.Response{}, fmt.Errorf("unexpected invoke %s %s", httpMethod, method)
}

func (f *fakeSidecar) PublishCloudEvent(_ context.Context, pubsub, topic string, body []byte, metadata map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ce struct {
		Data struct {
			TaskID int64 `json:"task_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ce); err != nil {
		return err
	}
	f.ops = append(f.ops, fmt.Sprintf("publish %d", ce.Data.TaskID))
	if f.failPublish[ce.Data.TaskID] {
		return errors.New("broker unavailable")
	}
	f.published = append(f.published, published{pubsub, topic, append([]byte(nil), body...), metadata})
	return nil
}

func newService(sc reminder.Sidecar) *reminder.Service {
	return &reminder.Service{
		Dapr:      sc,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PubSub:    events.PubSubName,
		AppToken:  appToken,
		TodoAppID: "todo-api",
		Now:       func() time.Time { return now },
	}
}

func ptr(t time.Time) *time.Time { return &t }

// threeDue are three due reminders; the second task has no due date.
func threeDue() []dueItem {
	return []dueItem{
		{TaskID: 11, UserID: "alice", Title: "one", DueAt: ptr(now.Add(time.Hour)), ReminderAt: now.Add(-10 * time.Minute)},
		{TaskID: 12, UserID: "bob", Title: "two", DueAt: nil, ReminderAt: now.Add(-5 * time.Minute)},
		{TaskID: 13, UserID: "alice", Title: "three", DueAt: ptr(now.Add(2 * time.Hour)), ReminderAt: now.Add(-1 * time.Second)},
	}
}

func TestSweepPublishesThenMarks(t *testing.T) {
	sc := &fakeSidecar{pages: [][]dueItem{threeDue()}}
	res, err := newService(sc).Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if res.Found != 3 || res.Published != 3 || res.Marked != 3 {
		t.Errorf("result = %+v, want 3 found, published and marked", res)
	}
	// Each reminder is marked sent right after, and only after, its publish.
	wantOps := []string{"list", "publish 11", "mark 11", "publish 12", "mark 12", "publish 13", "mark 13"}
	if !reflect.DeepEqual(sc.ops, wantOps) {
		t.Errorf("operations = %v, want %v", sc.ops, wantOps)
	}

	q := sc.listQueries[0]
	if q.Get("before") != now.Format(time.RFC3339Nano) || q.Get("limit") != strconv.Itoa(reminder.PageSize) || q.Has("after_at") || q.Has("after_id") {
		t.Errorf("list query = %v", q)
	}

	if len(sc.published) != 3 {
		t.Fatalf("published %d events, want 3", len(sc.published))
	}
	for i, d := range threeDue() {
		p := sc.published[i]
		if p.pubsub != "kafka-pubsub" || p.topic != "reminders" {
			t.Errorf("#%d published to %s/%s, want kafka-pubsub/reminders", i, p.pubsub, p.topic)
		}
		if want := map[string]string{"partitionKey": strconv.FormatInt(d.TaskID, 10)}; !reflect.DeepEqual(p.metadata, want) {
			t.Errorf("#%d metadata = %v, want %v", i, p.metadata, want)
		}
		// The notification service must be able to read what is published.
		ce, re, err := events.DecodeReminderEvent(p.body)
		if err != nil {
			t.Fatalf("#%d: %s: %v", i, p.body, err)
		}
		if err := ce.Validate(); err != nil {
			t.Errorf("#%d: invalid CloudEvent: %v", i, err)
		}
		if ce.ID() != events.ReminderEventID(d.TaskID, d.ReminderAt) {
			t.Errorf("#%d id = %s, want ReminderEventID(%d, %s)", i, ce.ID(), d.TaskID, d.ReminderAt)
		}
		if ce.Type() != "todo.ReminderDue.v1" || ce.Source() != "reminder-service" || ce.Subject() != strconv.FormatInt(d.TaskID, 10) ||
			ce.DataContentType() != "application/json" {
			t.Errorf("#%d envelope = type %q source %q subject %q content type %q", i, ce.Type(), ce.Source(), ce.Subject(), ce.DataContentType())
		}
		want := events.ReminderEvent{EventType: "ReminderDue", TaskID: d.TaskID, UserID: d.UserID, Title: d.Title,
			DueAt: d.DueAt, ReminderAt: d.ReminderAt}
		if re.EventType != want.EventType || re.TaskID != want.TaskID || re.UserID != want.UserID || re.Title != want.Title ||
			!re.ReminderAt.Equal(want.ReminderAt) || (re.DueAt == nil) != (want.DueAt == nil) ||
			(re.DueAt != nil && !re.DueAt.Equal(*want.DueAt)) {
			t.Errorf("#%d data = %+v, want %+v", i, re, want)
		}

		m := sc.marked[i]
		if m["task_id"] != float64(d.TaskID) || m["reminder_at"] != d.ReminderAt.Format(time.RFC3339Nano) {
			t.Errorf("#%d marked %v, want task %d at %s", i, m, d.TaskID, d.ReminderAt.Format(time.RFC3339Nano))
		}
	}
}

func TestSweepFailures(t *testing.T) {
	tests := []struct {
		name    string
		sc      *fakeSidecar
		wantOps []string
		want    reminder.Result
	}{
		{
			// A reminder is never marked sent when its publish failed, and
			// what follows stays due for the next tick.
			name:    "publish of the second fails",
			sc:      &fakeSidecar{pages: [][]dueItem{threeDue()}, failPublish: map[int64]bool{12: true}},
			wantOps: []string{"list", "publish 11", "mark 11", "publish 12"},
			want:    reminder.Result{Found: 3, Published: 1, Marked: 1},
		},
		{
			name:    "publish of the first fails",
			sc:      &fakeSidecar{pages: [][]dueItem{threeDue()}, failPublish: map[int64]bool{11: true}},
			wantOps: []string{"list", "publish 11"},
			want:    reminder.Result{Found: 3},
		},
		{
			name:    "marking fails",
			sc:      &fakeSidecar{pages: [][]dueItem{threeDue()}, markStatus: http.StatusInternalServerError},
			wantOps: []string{"list", "publish 11", "mark 11"},
			want:    reminder.Result{Found: 3, Published: 1},
		},
		{
			name:    "list call fails",
			sc:      &fakeSidecar{pages: [][]dueItem{threeDue()}, listErr: errors.New("connection refused")},
			wantOps: []string{"list"},
		},
		{
			name:    "todo-api answers 503 to the list call",
			sc:      &fakeSidecar{pages: [][]dueItem{threeDue()}, listStatus: http.StatusServiceUnavailable},
			wantOps: []string{"list"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newService(tt.sc).Sweep(context.Background())
			if err == nil {
				t.Fatal("Sweep succeeded, want an error")
			}
			res.Duration = 0
			if res != tt.want {
				t.Errorf("result = %+v, want %+v", res, tt.want)
			}
			if !reflect.DeepEqual(tt.sc.ops, tt.wantOps) {
				t.Errorf("operations = %v, want %v", tt.sc.ops, tt.wantOps)
			}
			for _, m := range tt.sc.marked {
				if tt.sc.failPublish[int64(m["task_id"].(float64))] {
					t.Errorf("task %v marked sent although its publish failed", m["task_id"])
				}
			}
		})
	}
}

func TestSweepPaging(t *testing.T) {
	full := make([]dueItem, reminder.PageSize)
	for i := range full {
		full[i] = dueItem{TaskID: int64(1000 + i), UserID: "u", Title: "t",
			ReminderAt: now.Add(-time.Hour).Add(time.Duration(i) * time.Second)}
	}
	last := full[len(full)-1]
	extra := dueItem{TaskID: 5, UserID: "u", Title: "late", ReminderAt: now.Add(-time.Second)}

	tests := []struct {
		name      string
		pages     [][]dueItem
		wantLists int
		wantFound int
	}{
		{"a full page, then a short one", [][]dueItem{full, {extra}}, 2, reminder.PageSize + 1},
		{"a full page, then an empty one", [][]dueItem{full, {}}, 2, reminder.PageSize},
		{"a short page is the last", [][]dueItem{full[:reminder.PageSize-1]}, 1, reminder.PageSize - 1},
		{"nothing due", [][]dueItem{{}}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &fakeSidecar{pages: tt.pages}
			res, err := newService(sc).Sweep(context.Background())
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			if len(sc.listQueries) != tt.wantLists {
				t.Fatalf("list called %d times, want %d", len(sc.listQueries), tt.wantLists)
			}
			if res.Found != tt.wantFound || res.Published != tt.wantFound || res.Marked != tt.wantFound {
				t.Errorf("result = %+v, want %d found, published and marked", res, tt.wantFound)
			}
			if len(sc.published) != tt.wantFound || len(sc.marked) != tt.wantFound {
				t.Errorf("published %d, marked %d, want %d", len(sc.published), len(sc.marked), tt.wantFound)
			}
			if tt.wantLists < 2 {
				return
			}
			q := sc.listQueries[1]
			if q.Get("after_at") != last.ReminderAt.Format(time.RFC3339Nano) || q.Get("after_id") != strconv.FormatInt(last.TaskID, 10) {
				t.Errorf("second list query = %v, want after_at=%s after_id=%d", q, last.ReminderAt.Format(time.RFC3339Nano), last.TaskID)
			}
			if q.Get("before") != sc.listQueries[0].Get("before") || q.Get("limit") != strconv.Itoa(reminder.PageSize) {
				t.Errorf("second list query = %v, want the same before and limit as the first %v", q, sc.listQueries[0])
			}
		})
	}
}

// Two sweeps over the same reminders (a crash between publish and mark, two
// replicas) publish the same event ids, so that the notifier keeps one.
func TestSweepIsDeterministic(t *testing.T) {
	ids := func(items []dueItem) []string {
		t.Helper()
		sc := &fakeSidecar{pages: [][]dueItem{items}}
		if _, err := newService(sc).Sweep(context.Background()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		var out []string
		for _, p := range sc.published {
			var ce struct{ ID string }
			if err := json.Unmarshal(p.body, &ce); err != nil {
				t.Fatal(err)
			}
			out = append(out, ce.ID)
		}
		return out
	}
	first, second := ids(threeDue()), ids(threeDue())
	if len(first) != 3 || !reflect.DeepEqual(first, second) {
		t.Fatalf("ids of two sweeps = %v and %v, want the same 3", first, second)
	}
	if first[0] == first[1] || first[1] == first[2] || first[0] == first[2] {
		t.Errorf("ids %v are not distinct", first)
	}
	// The same instant written with another offset is the same reminder.
	berlin := time.FixedZone("CET", 3600)
	shifted := threeDue()
	for i := range shifted {
		shifted[i].ReminderAt = shifted[i].ReminderAt.In(berlin)
	}
	if got := ids(shifted); !reflect.DeepEqual(got, first) {
		t.Errorf("ids with reminder_at in +01:00 = %v, want %v", got, first)
	}
	// A new reminder time of the same task is a new reminder.
	moved := threeDue()
	moved[0].ReminderAt = moved[0].ReminderAt.Add(time.Minute)
	if got := ids(moved); got[0] == first[0] || got[1] != first[1] {
		t.Errorf("ids after moving the first reminder = %v, was %v", got, first)
	}
}

func TestCronBindingRoute(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		token      string
		sc         *fakeSidecar
		wantStatus int
		wantLists  int
	}{
		{"sweep succeeds", http.MethodPost, appToken, &fakeSidecar{pages: [][]dueItem{threeDue()}}, http.StatusOK, 1},
		{"sweep fails", http.MethodPost, appToken, &fakeSidecar{listErr: errors.New("down")}, http.StatusInternalServerError, 1},
		{"publish fails", http.MethodPost, appToken, &fakeSidecar{pages: [][]dueItem{threeDue()}, failPublish: map[int64]bool{11: true}},
			http.StatusInternalServerError, 1},
		{"sidecar probes the binding", http.MethodOptions, appToken, &fakeSidecar{}, http.StatusOK, 0},
		{"tick without token", http.MethodPost, "", &fakeSidecar{}, http.StatusUnauthorized, 0},
		{"tick with wrong token", http.MethodPost, "wrong", &fakeSidecar{}, http.StatusUnauthorized, 0},
		{"GET is not the binding", http.MethodGet, appToken, &fakeSidecar{}, http.StatusMethodNotAllowed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/reminder-cron", nil)
			if tt.token != "" {
				req.Header.Set("dapr-api-token", tt.token)
			}
			w := httptest.NewRecorder()
			newService(tt.sc).Routes().ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if len(tt.sc.listQueries) != tt.wantLists {
				t.Errorf("list called %d times, want %d", len(tt.sc.listQueries), tt.wantLists)
			}
			if tt.wantStatus == http.StatusInternalServerError {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != "sweep_failed" {
					t.Errorf("body = %s, want error code sweep_failed", w.Body)
				}
			}
		})
	}
}

// A tick that arrives while a sweep is still running is acknowledged without
// starting a second sweep.
func TestOverlappingTickIsSkipped(t *testing.T) {
	sc := &fakeSidecar{
		pages:       [][]dueItem{threeDue()},
		listEntered: make(chan struct{}),
		listRelease: make(chan struct{}),
	}
	h := newService(sc).Routes()
	tick := func() int {
		req := httptest.NewRequest(http.MethodPost, "/reminder-cron", nil)
		req.Header.Set("dapr-api-token", appToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	first := make(chan int)
	go func() { first <- tick() }()
	<-sc.listEntered // the first sweep is running

	if got := tick(); got != http.StatusOK {
		t.Errorf("overlapping tick answered %d, want 200", got)
	}
	close(sc.listRelease)
	if got := <-first; got != http.StatusOK {
		t.Errorf("first tick answered %d, want 200", got)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.listQueries) != 1 || len(sc.published) != 3 {
		t.Errorf("list called %d times, published %d; want 1 sweep publishing 3", len(sc.listQueries), len(sc.published))
	}
}

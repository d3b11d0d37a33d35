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

	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/reminder"
)

const appToken = "app-secret"

var now = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

var errBroker = errors.New("broker unavailable")

// bulkCall is one BulkPublishCloudEvents call.
type bulkCall struct {
	pubsub, topic string
	entries       []dapr.BulkEntry
	failed        bool // the fake answered it with an error
}

// markedItem is one reminder of a mark call's body, as todo-api reads it.
type markedItem struct {
	TaskID     int64  `json:"task_id"`
	ReminderAt string `json:"reminder_at"`
}

// fakeSidecar is a reminder.Sidecar standing in for todo-api (through
// service invocation) and the pub/sub component. ops is the order of what
// happened: "list", "publish <first>..<last> (<n>)", "mark <first>..<last>
// (<n>)" with the task ids of the first and last reminder of the call.
type fakeSidecar struct {
	mu sync.Mutex

	pages       [][]todointernal.Reminder // answers of successive list calls; then empty pages
	listErr     error                     // transport error of the list call
	listErrCall int                       // when not 0, only that list call (1-based) fails with listErr
	listStatus  int                       // when not 0, the status of the list answer
	failPublish map[int]bool              // bulk publish calls (1-based) that fail
	failPageOf  map[int64]bool            // bulk publishes whose first task is one of these fail
	// holdUntilFailed, when set, makes every other bulk publish wait (at
	// most 5 s) until a publish of failPageOf has failed.
	holdUntilFailed chan struct{}
	closeHold       sync.Once
	// refused, when set, makes failing bulk publishes answer as daprd does
	// when the broker refused these tasks' entries (dapr.BulkError).
	refused    map[int64]bool
	releases   [][]markedItem // bodies of the release calls
	markStatus int            // when not 0, the status of the mark answer
	markErr    error          // transport error of the mark call
	notMarked  int            // todo-api answers this many fewer marked than sent

	listQueries []url.Values
	publishes   []bulkCall     // every bulk publish call, failed ones included
	marks       [][]markedItem // bodies of the mark calls that todo-api answered 200
	ops         []string

	// listEntered, when set, receives a value when a list call starts, which
	// then waits for listRelease.
	listEntered chan struct{}
	listRelease chan struct{}

	// When publishBarrier is set, each bulk publish waits (at most 5 s)
	// until that many have been in flight at once; maxInFlight is the most
	// that were.
	publishBarrier int
	inFlight       int
	maxInFlight    int
}

func span(ids []int64) string {
	if len(ids) == 0 {
		return "(0)"
	}
	return fmt.Sprintf("%d..%d (%d)", ids[0], ids[len(ids)-1], len(ids))
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
		n := len(f.listQueries)
		if f.listErr != nil && (f.listErrCall == 0 || f.listErrCall == n) {
			return dapr.Response{}, f.listErr
		}
		if f.listStatus != 0 {
			return dapr.Response{Status: f.listStatus, Body: []byte(`{"error":{"code":"internal"}}`)}, nil
		}
		var page []todointernal.Reminder
		if n <= len(f.pages) {
			page = f.pages[n-1]
		}
		b, _ := json.Marshal(todointernal.DueReminders{Reminders: page})
		return dapr.Response{Status: http.StatusOK, Body: b}, nil
	case httpMethod == http.MethodPost && method == "internal/reminders/released":
		f.mu.Lock()
		defer f.mu.Unlock()
		b, _ := json.Marshal(body)
		var in struct {
			Reminders []markedItem `json:"reminders"`
		}
		if err := json.Unmarshal(b, &in); err != nil {
			return dapr.Response{Status: http.StatusBadRequest}, nil
		}
		ids := make([]int64, len(in.Reminders))
		for i, it := range in.Reminders {
			ids[i] = it.TaskID
		}
		f.ops = append(f.ops, "release "+span(ids))
		f.releases = append(f.releases, in.Reminders)
		return dapr.Response{Status: http.StatusOK, Body: fmt.Appendf(nil, `{"released":%d}`, len(ids))}, nil
	case httpMethod == http.MethodPost && method == "internal/reminders/sent":
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(query) != 0 {
			return dapr.Response{}, fmt.Errorf("mark call with a query %v", query)
		}
		b, err := json.Marshal(body)
		if err != nil {
			return dapr.Response{}, err
		}
		// todo-api takes exactly {"reminders": [...]}.
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil || len(members) != 1 || members["reminders"] == nil {
			return dapr.Response{Status: http.StatusBadRequest, Body: []byte(`{"error":{"code":"invalid_body"}}`)}, nil
		}
		var items []markedItem
		if err := json.Unmarshal(members["reminders"], &items); err != nil {
			return dapr.Response{Status: http.StatusBadRequest, Body: []byte(`{"error":{"code":"invalid_field"}}`)}, nil
		}
		ids := make([]int64, len(items))
		for i, it := range items {
			ids[i] = it.TaskID
		}
		f.ops = append(f.ops, "mark "+span(ids))
		if f.markErr != nil {
			return dapr.Response{}, f.markErr
		}
		if f.markStatus != 0 {
			return dapr.Response{Status: f.markStatus, Body: []byte(`{"error":{"code":"internal"}}`)}, nil
		}
		f.marks = append(f.marks, items)
		marked := max(len(items)-f.notMarked, 0)
		return dapr.Response{Status: http.StatusOK, Body: fmt.Appendf(nil, `{"marked":%d}`, marked)}, nil
	}
	return dapr.Response{}, fmt.Errorf("unexpected invoke %s %s", httpMethod, method)
}

func (f *fakeSidecar) BulkPublishCloudEvents(_ context.Context, pubsub, topic string, entries []dapr.BulkEntry) error {
	if f.holdUntilFailed != nil && len(entries) > 0 {
		var ce struct {
			Data struct {
				TaskID int64 `json:"task_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(entries[0].Event, &ce); err != nil {
			return err
		}
		if !f.failPageOf[ce.Data.TaskID] {
			select {
			case <-f.holdUntilFailed:
			case <-time.After(5 * time.Second):
			}
		}
	}
	if f.publishBarrier > 0 {
		f.mu.Lock()
		f.inFlight++
		f.maxInFlight = max(f.maxInFlight, f.inFlight)
		f.mu.Unlock()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			f.mu.Lock()
			reached := f.maxInFlight >= f.publishBarrier
			f.mu.Unlock()
			if reached {
				break
			}
		}
		defer func() {
			f.mu.Lock()
			f.inFlight--
			f.mu.Unlock()
		}()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := bulkCall{pubsub: pubsub, topic: topic, entries: make([]dapr.BulkEntry, len(entries))}
	ids := make([]int64, len(entries))
	for i, e := range entries {
		var ce struct {
			Data struct {
				TaskID int64 `json:"task_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(e.Event, &ce); err != nil {
			return err
		}
		ids[i] = ce.Data.TaskID
		md := make(map[string]string, len(e.Metadata))
		for k, v := range e.Metadata {
			md[k] = v
		}
		call.entries[i] = dapr.BulkEntry{ID: e.ID, Event: append(json.RawMessage(nil), e.Event...), Metadata: md}
	}
	f.ops = append(f.ops, "publish "+span(ids))
	call.failed = f.failPublish[len(f.publishes)+1] || (len(ids) > 0 && f.failPageOf[ids[0]])
	f.publishes = append(f.publishes, call)
	if call.failed {
		if f.holdUntilFailed != nil {
			f.closeHold.Do(func() { close(f.holdUntilFailed) })
		}
		if f.refused != nil {
			var notPublished []string
			for i, e := range entries {
				if f.refused[ids[i]] {
					notPublished = append(notPublished, e.ID)
				}
			}
			return &dapr.BulkError{Err: errBroker, NotPublished: notPublished}
		}
		return errBroker
	}
	return nil
}

// publishedEntries are the entries of the successful bulk publishes.
func (f *fakeSidecar) publishedEntries() []dapr.BulkEntry {
	var out []dapr.BulkEntry
	for _, c := range f.publishes {
		if !c.failed {
			out = append(out, c.entries...)
		}
	}
	return out
}

func newService(sc reminder.Sidecar) *reminder.Service {
	return &reminder.Service{
		Dapr:      sc,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PubSub:    events.PubSubName,
		AppToken:  appToken,
		TodoAppID: "todo-api",
		Now:       func() time.Time { return now },
		// One page after the other, so the tests can check the order of
		// the calls; TestSweepConcurrentPages covers more.
		Concurrency: 1,
	}
}

func ptr(t time.Time) *time.Time { return &t }

// threeDue are three due reminders; the second task has no due date.
func threeDue() []todointernal.Reminder {
	return []todointernal.Reminder{
		{TaskID: 11, UserID: "alice", Title: "one", DueAt: ptr(now.Add(time.Hour)), ReminderAt: now.Add(-10 * time.Minute)},
		{TaskID: 12, UserID: "bob", Title: "two", DueAt: nil, ReminderAt: now.Add(-5 * time.Minute)},
		{TaskID: 13, UserID: "alice", Title: "three", DueAt: ptr(now.Add(2 * time.Hour)), ReminderAt: now.Add(-1 * time.Second)},
	}
}

// fullPage is reminder.PageSize due reminders of tasks first, first+1, ...
// in the order todo-api lists them (by reminder time).
func fullPage(first int64, from time.Time) []todointernal.Reminder {
	page := make([]todointernal.Reminder, reminder.PageSize)
	for i := range page {
		page[i] = todointernal.Reminder{TaskID: first + int64(i), UserID: "u", Title: "t",
			ReminderAt: from.Add(time.Duration(i) * time.Second)}
	}
	return page
}

// spanOf is what the fake's ops show for a publish or mark of page.
func spanOf(page []todointernal.Reminder) string {
	ids := make([]int64, len(page))
	for i, d := range page {
		ids[i] = d.TaskID
	}
	return span(ids)
}

// checkEntries checks that call published exactly page, in order, to the
// reminders topic, each with its deterministic id and its task as partition
// key.
func checkEntries(t *testing.T, call bulkCall, page []todointernal.Reminder) {
	t.Helper()
	if call.pubsub != "kafka-pubsub" || call.topic != "reminders" {
		t.Errorf("bulk published to %s/%s, want kafka-pubsub/reminders", call.pubsub, call.topic)
	}
	if len(call.entries) != len(page) {
		t.Fatalf("bulk publish of %d entries, want the page's %d", len(call.entries), len(page))
	}
	seen := make(map[string]bool, len(page))
	for i, d := range page {
		e := call.entries[i]
		wantID := events.ReminderEventID(d.TaskID, d.ReminderAt)
		if e.ID != wantID {
			t.Errorf("#%d entry id = %s, want ReminderEventID(%d, %s) = %s", i, e.ID, d.TaskID, d.ReminderAt, wantID)
		}
		if seen[e.ID] {
			t.Errorf("#%d entry id %s is not unique in the request", i, e.ID)
		}
		seen[e.ID] = true
		if want := map[string]string{"partitionKey": strconv.FormatInt(d.TaskID, 10)}; !reflect.DeepEqual(e.Metadata, want) {
			t.Errorf("#%d metadata = %v, want %v", i, e.Metadata, want)
		}
		var ce struct {
			ID   string `json:"id"`
			Data struct {
				TaskID int64 `json:"task_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(e.Event, &ce); err != nil {
			t.Fatalf("#%d event: %v", i, err)
		}
		if ce.ID != wantID || ce.Data.TaskID != d.TaskID {
			t.Errorf("#%d event has id %s for task %d, want %s for task %d", i, ce.ID, ce.Data.TaskID, wantID, d.TaskID)
		}
	}
}

// checkMarked checks that a mark call's body is exactly page, in order.
func checkMarked(t *testing.T, got []markedItem, page []todointernal.Reminder) {
	t.Helper()
	if len(got) != len(page) {
		t.Fatalf("marked %d reminders in one call, want the page's %d", len(got), len(page))
	}
	for i, d := range page {
		if got[i].TaskID != d.TaskID || got[i].ReminderAt != d.ReminderAt.Format(time.RFC3339Nano) {
			t.Errorf("#%d marked %+v, want task %d at %s", i, got[i], d.TaskID, d.ReminderAt.Format(time.RFC3339Nano))
		}
	}
}

func TestSweepPublishesPageThenMarks(t *testing.T) {
	sc := &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}}
	res, err := newService(sc).Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if res.Found != 3 || res.Published != 3 || res.Marked != 3 {
		t.Errorf("result = %+v, want 3 found, published and marked", res)
	}
	// The page is published in one bulk call and marked sent in one call,
	// only after the publish. A short page is the last: no second list.
	wantOps := []string{"list", "publish 11..13 (3)", "mark 11..13 (3)"}
	if !reflect.DeepEqual(sc.ops, wantOps) {
		t.Errorf("operations = %v, want %v", sc.ops, wantOps)
	}

	q := sc.listQueries[0]
	if q.Get("before") != now.Format(time.RFC3339Nano) || q.Get("limit") != strconv.Itoa(reminder.PageSize) || q.Has("after_at") || q.Has("after_id") {
		t.Errorf("list query = %v", q)
	}

	if len(sc.publishes) != 1 {
		t.Fatalf("%d bulk publishes, want 1", len(sc.publishes))
	}
	checkEntries(t, sc.publishes[0], threeDue())
	for i, d := range threeDue() {
		e := sc.publishes[0].entries[i]
		// The notification service must be able to read what is published.
		ce, re, err := events.DecodeReminderEvent(e.Event)
		if err != nil {
			t.Fatalf("#%d: %s: %v", i, e.Event, err)
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
	}

	if len(sc.marks) != 1 {
		t.Fatalf("%d mark calls, want 1", len(sc.marks))
	}
	checkMarked(t, sc.marks[0], threeDue())
}

func TestSweepFailures(t *testing.T) {
	page1 := fullPage(1000, now.Add(-2*time.Hour))
	page2 := fullPage(2000, now.Add(-time.Hour))
	tests := []struct {
		name    string
		sc      *fakeSidecar
		wantOps []string
		want    reminder.Result
		wantErr error // when not nil, errors.Is of Sweep's error
	}{
		{
			// No reminder of the page is marked sent when the bulk publish
			// failed: the whole page stays due for the next tick.
			name:    "bulk publish fails",
			sc:      &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, failPublish: map[int]bool{1: true}},
			wantOps: []string{"list", "publish 11..13 (3)"},
			want:    reminder.Result{Found: 3},
			wantErr: errBroker,
		},
		{
			// The sidecar says which entries the broker refused: their
			// claims are given back, the others stay owed (they may have
			// been published).
			name: "bulk publish refused in part",
			sc: &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, failPublish: map[int]bool{1: true},
				refused: map[int64]bool{12: true, 13: true}},
			wantOps: []string{"list", "publish 11..13 (3)", "release 12..13 (2)"},
			want:    reminder.Result{Found: 3},
			wantErr: errBroker,
		},
		{
			// The first page stays marked; the second is not marked and no
			// third page is listed.
			name: "bulk publish of the second page fails",
			sc: &fakeSidecar{pages: [][]todointernal.Reminder{page1, page2, threeDue()},
				failPublish: map[int]bool{2: true}},
			wantOps: []string{"list", "publish " + spanOf(page1), "mark " + spanOf(page1),
				"list", "publish " + spanOf(page2)},
			want:    reminder.Result{Found: 2 * reminder.PageSize, Published: reminder.PageSize, Marked: reminder.PageSize},
			wantErr: errBroker,
		},
		{
			name:    "todo-api answers 500 to the mark call",
			sc:      &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, markStatus: http.StatusInternalServerError},
			wantOps: []string{"list", "publish 11..13 (3)", "mark 11..13 (3)"},
			want:    reminder.Result{Found: 3, Published: 3},
		},
		{
			name:    "mark call fails",
			sc:      &fakeSidecar{pages: [][]todointernal.Reminder{page1, threeDue()}, markErr: errors.New("connection reset")},
			wantOps: []string{"list", "publish " + spanOf(page1), "mark " + spanOf(page1)},
			want:    reminder.Result{Found: reminder.PageSize, Published: reminder.PageSize},
		},
		{
			name:    "list call fails",
			sc:      &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, listErr: errors.New("connection refused")},
			wantOps: []string{"list"},
		},
		{
			name:    "todo-api answers 503 to the list call",
			sc:      &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, listStatus: http.StatusServiceUnavailable},
			wantOps: []string{"list"},
		},
		{
			name: "list of the second page fails",
			sc: &fakeSidecar{pages: [][]todointernal.Reminder{page1, threeDue()},
				listErr: errors.New("connection refused"), listErrCall: 2},
			wantOps: []string{"list", "publish " + spanOf(page1), "mark " + spanOf(page1), "list"},
			want:    reminder.Result{Found: reminder.PageSize, Published: reminder.PageSize, Marked: reminder.PageSize},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newService(tt.sc).Sweep(context.Background())
			if err == nil {
				t.Fatal("Sweep succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want one wrapping %v", err, tt.wantErr)
			}
			res.Duration, res.Spent = 0, reminder.Spent{}
			if res != tt.want {
				t.Errorf("result = %+v, want %+v", res, tt.want)
			}
			if !reflect.DeepEqual(tt.sc.ops, tt.wantOps) {
				t.Errorf("operations = %v, want %v", tt.sc.ops, tt.wantOps)
			}
			// Nothing whose publish failed is marked sent.
			failed := map[int64]bool{}
			for _, c := range tt.sc.publishes {
				if !c.failed {
					continue
				}
				for _, e := range c.entries {
					var ce struct {
						Data struct {
							TaskID int64 `json:"task_id"`
						} `json:"data"`
					}
					if err := json.Unmarshal(e.Event, &ce); err != nil {
						t.Fatal(err)
					}
					failed[ce.Data.TaskID] = true
				}
			}
			for _, m := range tt.sc.marks {
				for _, it := range m {
					if failed[it.TaskID] {
						t.Errorf("task %d marked sent although its publish failed", it.TaskID)
					}
				}
			}
		})
	}
}

func TestSweepPaging(t *testing.T) {
	page1 := fullPage(1000, now.Add(-2*time.Hour))
	page2 := fullPage(2000, now.Add(-time.Hour))
	extra := todointernal.Reminder{TaskID: 5, UserID: "u", Title: "late", ReminderAt: now.Add(-time.Second)}

	tests := []struct {
		name  string
		pages [][]todointernal.Reminder // what todo-api answers; all of it is listed
	}{
		{"a full page, then a short one", [][]todointernal.Reminder{page1, {extra}}},
		{"a full page, then an empty one", [][]todointernal.Reminder{page1, {}}},
		{"two full pages, then a short one", [][]todointernal.Reminder{page1, page2, threeDue()}},
		{"a short page is the last", [][]todointernal.Reminder{page1[:reminder.PageSize-1]}},
		{"nothing due", [][]todointernal.Reminder{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &fakeSidecar{pages: tt.pages}
			res, err := newService(sc).Sweep(context.Background())
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			// Each page is listed, published in one call and then marked in
			// one call, before the next page is listed.
			var wantOps []string
			var nonEmpty [][]todointernal.Reminder
			found := 0
			for _, p := range tt.pages {
				wantOps = append(wantOps, "list")
				found += len(p)
				if len(p) > 0 {
					nonEmpty = append(nonEmpty, p)
					wantOps = append(wantOps, "publish "+spanOf(p), "mark "+spanOf(p))
				}
			}
			if !reflect.DeepEqual(sc.ops, wantOps) {
				t.Errorf("operations = %v, want %v", sc.ops, wantOps)
			}
			if len(sc.listQueries) != len(tt.pages) {
				t.Fatalf("list called %d times, want %d", len(sc.listQueries), len(tt.pages))
			}
			if res.Found != found || res.Published != found || res.Marked != found {
				t.Errorf("result = %+v, want %d found, published and marked", res, found)
			}
			if len(sc.publishes) != len(nonEmpty) || len(sc.marks) != len(nonEmpty) {
				t.Fatalf("%d bulk publishes and %d mark calls, want %d of each (one per non-empty page)",
					len(sc.publishes), len(sc.marks), len(nonEmpty))
			}
			for i, p := range nonEmpty {
				checkEntries(t, sc.publishes[i], p)
				checkMarked(t, sc.marks[i], p)
			}
			// Every list after the first continues after the last reminder of
			// the page before, with the same before and limit.
			for i := 1; i < len(sc.listQueries); i++ {
				q, last := sc.listQueries[i], tt.pages[i-1][len(tt.pages[i-1])-1]
				if q.Get("after_at") != last.ReminderAt.Format(time.RFC3339Nano) || q.Get("after_id") != strconv.FormatInt(last.TaskID, 10) {
					t.Errorf("list query #%d = %v, want after_at=%s after_id=%d", i+1, q, last.ReminderAt.Format(time.RFC3339Nano), last.TaskID)
				}
				if q.Get("before") != sc.listQueries[0].Get("before") || q.Get("limit") != strconv.Itoa(reminder.PageSize) {
					t.Errorf("list query #%d = %v, want the same before and limit as the first %v", i+1, q, sc.listQueries[0])
				}
			}
		})
	}
}

// With Concurrency pages in flight, every page is still published once and
// then marked once, the lister still walks the pages in order, and no more
// than Concurrency pages are in flight.
func TestSweepConcurrentPages(t *testing.T) {
	const workers = 4
	var pages [][]todointernal.Reminder
	for i := range 7 {
		pages = append(pages, fullPage(int64(1000*(i+1)), now.Add(-time.Duration(10-i)*time.Hour)))
	}
	pages = append(pages, threeDue())
	sc := &fakeSidecar{pages: pages, publishBarrier: workers}
	svc := newService(sc)
	svc.Concurrency = workers
	res, err := svc.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	total := 7*reminder.PageSize + 3
	if res.Found != total || res.Published != total || res.Marked != total {
		t.Errorf("result = %+v, want %d found, published and marked", res, total)
	}
	if sc.maxInFlight != workers {
		t.Errorf("at most %d bulk publishes were in flight at once, want %d", sc.maxInFlight, workers)
	}
	if len(sc.listQueries) != len(pages) {
		t.Errorf("list called %d times, want %d (the last page is short)", len(sc.listQueries), len(pages))
	}
	for i := 1; i < len(sc.listQueries); i++ {
		last := pages[i-1][len(pages[i-1])-1]
		if got := sc.listQueries[i].Get("after_id"); got != strconv.FormatInt(last.TaskID, 10) {
			t.Errorf("list #%d after_id = %s, want %d", i+1, got, last.TaskID)
		}
	}
	for _, p := range pages {
		pub, mark := -1, -1
		for i, op := range sc.ops {
			switch op {
			case "publish " + spanOf(p):
				if pub >= 0 {
					t.Errorf("page %s published twice", spanOf(p))
				}
				pub = i
			case "mark " + spanOf(p):
				if mark >= 0 {
					t.Errorf("page %s marked twice", spanOf(p))
				}
				mark = i
			}
		}
		if pub < 0 || mark < pub {
			t.Errorf("page %s: publish at op %d, mark at op %d; want a publish, then a mark", spanOf(p), pub, mark)
		}
	}
}

// When one page of a concurrent sweep fails, no further page is listed, the
// failed page is not marked, and the result counts what the other pages did.
func TestSweepConcurrentFailureStopsListing(t *testing.T) {
	var pages [][]todointernal.Reminder
	for i := range 12 {
		pages = append(pages, fullPage(int64(1000*(i+1)), now.Add(-time.Duration(20-i)*time.Hour)))
	}
	const workers = 4
	// The other pages' publishes wait for page 2's to fail, so that the
	// failure is seen while pages 1 to 4 are in flight.
	sc := &fakeSidecar{pages: pages, failPageOf: map[int64]bool{2000: true}, holdUntilFailed: make(chan struct{})}
	svc := newService(sc)
	svc.Concurrency = workers
	res, err := svc.Sweep(context.Background())
	if !errors.Is(err, errBroker) {
		t.Fatalf("Sweep error = %v, want one wrapping %v", err, errBroker)
	}
	// Pages 1 to 4 were listed before the failure; at most one more list
	// can have started while it was being recorded.
	if len(sc.listQueries) > workers+1 {
		t.Errorf("list called %d times after a failure on page 2 with %d pages in flight, want at most %d",
			len(sc.listQueries), workers, workers+1)
	}
	published, marked := 0, 0
	for _, c := range sc.publishes {
		if !c.failed {
			published += len(c.entries)
		}
	}
	for _, m := range sc.marks {
		marked += len(m)
		if m[0].TaskID == 2000 {
			t.Error("the page whose publish failed was marked sent")
		}
	}
	if res.Published != published || res.Marked != marked || res.Found < published || res.Found%reminder.PageSize != 0 {
		t.Errorf("result = %+v; the fake saw %d published and %d marked", res, published, marked)
	}
}

// Marked counts what todo-api says it marked: a reminder whose time changed
// between the list and the mark is not marked (it stays armed), and that is
// not a failure.
func TestSweepMarkedComesFromTheAnswer(t *testing.T) {
	page1 := fullPage(1000, now.Add(-time.Hour))
	tests := []struct {
		name  string
		pages [][]todointernal.Reminder
		want  reminder.Result
	}{
		{"one page", [][]todointernal.Reminder{threeDue()}, reminder.Result{Found: 3, Published: 3, Marked: 2}},
		{"two pages", [][]todointernal.Reminder{page1, threeDue()},
			reminder.Result{Found: reminder.PageSize + 3, Published: reminder.PageSize + 3, Marked: reminder.PageSize + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &fakeSidecar{pages: tt.pages, notMarked: 1}
			res, err := newService(sc).Sweep(context.Background())
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			res.Duration, res.Spent = 0, reminder.Spent{}
			if res != tt.want {
				t.Errorf("result = %+v, want %+v", res, tt.want)
			}
			if res.Marked >= res.Published {
				t.Errorf("Marked %d, want fewer than Published %d", res.Marked, res.Published)
			}
			if len(sc.marks) != len(tt.pages) {
				t.Errorf("%d mark calls, want %d", len(sc.marks), len(tt.pages))
			}
		})
	}
}

// Two sweeps over the same reminders (a crash between publish and mark, two
// replicas) publish the same event ids, so that the notifier keeps one.
func TestSweepIsDeterministic(t *testing.T) {
	ids := func(items []todointernal.Reminder) []string {
		t.Helper()
		sc := &fakeSidecar{pages: [][]todointernal.Reminder{items}}
		if _, err := newService(sc).Sweep(context.Background()); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		var out []string
		for _, e := range sc.publishedEntries() {
			var ce struct{ ID string }
			if err := json.Unmarshal(e.Event, &ce); err != nil {
				t.Fatal(err)
			}
			if ce.ID != e.ID {
				t.Errorf("entry id %s, but its CloudEvent's id is %s", e.ID, ce.ID)
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
		{"sweep succeeds", http.MethodPost, appToken, &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}}, http.StatusOK, 1},
		{"sweep fails", http.MethodPost, appToken, &fakeSidecar{listErr: errors.New("down")}, http.StatusInternalServerError, 1},
		{"publish fails", http.MethodPost, appToken, &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, failPublish: map[int]bool{1: true}},
			http.StatusInternalServerError, 1},
		{"mark fails", http.MethodPost, appToken, &fakeSidecar{pages: [][]todointernal.Reminder{threeDue()}, markStatus: http.StatusInternalServerError},
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
		pages:       [][]todointernal.Reminder{threeDue()},
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
	if len(sc.listQueries) != 1 || len(sc.publishes) != 1 || len(sc.publishedEntries()) != 3 || len(sc.marks) != 1 {
		t.Errorf("list called %d times, %d bulk publishes of %d events, %d mark calls; want 1 sweep publishing 3 at once and marking them",
			len(sc.listQueries), len(sc.publishes), len(sc.publishedEntries()), len(sc.marks))
	}
}

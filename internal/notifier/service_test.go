package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/contract/contracttest"
	"github.com/evolution-todo/todo/internal/contract/notifierapi"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer/consumertest"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/notifier"
	"github.com/evolution-todo/todo/internal/telemetry"
)

const (
	appToken  = "app-secret"
	storeName = "statestore"
)

var now = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// TestParallelRemindersOfOneUserDoNotConflict: a burst of one user's
// reminders delivered all at once, as RabbitMQ does (up to prefetchCount in
// parallel), is stored without a single state conflict in one replica, so
// no delivery can spend its conflict retries and be dead-lettered. The end
// of the RabbitMQ e2e run that found it: 230 conflicts retried past their
// budget, then TestReplayedReminderAfterEvictionIsNotNew timed out.
func TestParallelRemindersOfOneUserDoNotConflict(t *testing.T) {
	st := newMemStore()
	h := newHandler(st)
	const n = 100
	var wg sync.WaitGroup
	statuses := make([]dapr.Status, n)
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = deliveredEvent(t, fmt.Sprintf("ev-%03d", i), reminderData(int64(i+1)))
	}
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i] = deliver(t, h, bodies[i])
		})
	}
	close(start)
	wg.Wait()
	for i, got := range statuses {
		if got != dapr.Success {
			t.Errorf("delivery %d: %q, want %q", i, got, dapr.Success)
		}
	}
	if got := len(st.inbox(t).Items); got != n {
		t.Errorf("inbox holds %d, want %d", got, n)
	}
	if _, _, c := st.counts(); c != 0 {
		t.Errorf("%d state conflicts, want 0", c)
	}
}

// memStore is a notifier.StateStore in memory with the ETag semantics of
// Dapr's first-write concurrency: every save increments the item's ETag; a
// save with a stale ETag, or with no ETag on an existing key, is a conflict.
type memStore struct {
	mu    sync.Mutex
	items map[string]memItem

	getErr  error // returned by every GetState
	saveErr error // returned by every SaveState (a non-conflict failure)
	// interfere, when set, runs once inside the next SaveState before the
	// ETag check: another writer changing the item between the handler's
	// GetState and its SaveState.
	interfere func(s *memStore, key string)
	// conflictAlways makes every save a conflict.
	conflictAlways bool

	gets, saves, conflicts int
}

type memItem struct {
	value []byte
	etag  int
}

func newMemStore() *memStore { return &memStore{items: map[string]memItem{}} }

func (s *memStore) GetState(_ context.Context, store, key string) ([]byte, string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if store != storeName {
		return nil, "", false, fmt.Errorf("unknown state store %q", store)
	}
	if s.getErr != nil {
		return nil, "", false, s.getErr
	}
	it, ok := s.items[key]
	if !ok {
		return nil, "", false, nil
	}
	return append([]byte(nil), it.value...), strconv.Itoa(it.etag), true, nil
}

func (s *memStore) SaveState(_ context.Context, store, key string, value any, etag string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if store != storeName {
		return fmt.Errorf("unknown state store %q", store)
	}
	if s.saveErr != nil {
		return s.saveErr
	}
	if f := s.interfere; f != nil {
		s.interfere = nil
		f(s, key)
	}
	if s.conflict(key, etag) {
		return fmt.Errorf("save %s with etag %q: %w", key, etag, dapr.ErrStateConflict)
	}
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	s.put(key, b)
	return nil
}

// Transact applies ops all or none, with the same conditions as SaveState.
func (s *memStore) Transact(_ context.Context, store string, ops []dapr.StateOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if store != storeName {
		return fmt.Errorf("unknown state store %q", store)
	}
	if s.saveErr != nil {
		return s.saveErr
	}
	if f := s.interfere; f != nil && len(ops) > 0 {
		s.interfere = nil
		f(s, ops[0].Key)
	}
	for _, op := range ops {
		if s.conflict(op.Key, op.ETag) {
			return fmt.Errorf("transaction on %s with etag %q: %w", op.Key, op.ETag, dapr.ErrStateConflict)
		}
	}
	for _, op := range ops {
		b, err := json.Marshal(op.Value)
		if err != nil {
			return err
		}
		s.put(op.Key, b)
	}
	return nil
}

// conflict reports (and counts) whether a first-write save of key with etag
// fails: a stale ETag, or no ETag on an existing key. s.mu must be held.
func (s *memStore) conflict(key, etag string) bool {
	cur, exists := s.items[key]
	if s.conflictAlways || (exists && etag != strconv.Itoa(cur.etag)) || (!exists && etag != "") {
		s.conflicts++
		return true
	}
	return false
}

// put stores value under key and bumps its ETag; s.mu must be held.
func (s *memStore) put(key string, value []byte) {
	s.items[key] = memItem{value: value, etag: s.items[key].etag + 1}
}

// inbox returns the stored inbox under key (the only key, when there is one).
func (s *memStore) inbox(t *testing.T) notifier.Inbox {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var in notifier.Inbox
	inboxes := 0
	for key, it := range s.items {
		if !strings.HasPrefix(key, "inbox-") {
			continue
		}
		inboxes++
		if err := json.Unmarshal(it.value, &in); err != nil {
			t.Fatal(err)
		}
	}
	if inboxes > 1 {
		t.Fatalf("%d inboxes in the store, want at most 1", inboxes)
	}
	return in
}

func (s *memStore) counts() (gets, saves, conflicts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets, s.saves, s.conflicts
}

func newHandler(st notifier.StateStore) http.Handler {
	return newObservedHandler(st, slog.New(slog.DiscardHandler), nil)
}

// newObservedHandler is newHandler logging to log and counting in tm.
func newObservedHandler(st notifier.StateStore, log *slog.Logger, tm *telemetry.Metrics) http.Handler {
	h := &notifier.Handler{
		State:     st,
		StoreName: storeName,
		Log:       log,
		PubSub:    events.PubSubName,
		AppToken:  appToken,
		Now:       func() time.Time { return now },
		Telemetry: tm,
	}
	return h.Routes()
}

// reminderData is the data of a ReminderDue for task taskID of alice.
func reminderData(taskID int64) map[string]any {
	return map[string]any{
		"event_type":  "ReminderDue",
		"task_id":     taskID,
		"user_id":     "alice",
		"title":       "task " + strconv.FormatInt(taskID, 10),
		"due_at":      "2026-03-10T10:00:00Z",
		"reminder_at": "2026-03-10T08:30:00Z",
	}
}

// deliveredEvent is a CloudEvent as the Dapr sidecar delivers it.
func deliveredEvent(t *testing.T, id string, data any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"specversion":     "1.0",
		"id":              id,
		"source":          "reminder-service",
		"type":            "todo.ReminderDue.v1",
		"subject":         "7",
		"time":            "2026-03-10T08:30:00Z",
		"datacontenttype": "application/json",
		"topic":           events.TopicReminders,
		"pubsubname":      events.PubSubName,
		"traceparent":     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"data":            data,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func deliver(t *testing.T, h http.Handler, body []byte) dapr.Status {
	t.Helper()
	return consumertest.Deliver(t, consumertest.Consumer{Handler: h, AppToken: appToken, Path: "/events/reminders"}, body)
}

func call(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("dapr-api-token", appToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func callBody(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("dapr-api-token", appToken)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// markRead calls POST /inbox/read for user's notification id.
func markRead(t *testing.T, h http.Handler, user, id string) *httptest.ResponseRecorder {
	t.Helper()
	b, _ := json.Marshal(notifierapi.MarkRead{UserID: user, ID: id})
	return callBody(t, h, http.MethodPost, "/inbox/read", string(b))
}

func ids(items []notifierapi.Notification) []string {
	out := []string{}
	for _, n := range items {
		out = append(out, n.ID)
	}
	return out
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %s: %v", w.Body, err)
	}
	return e.Error.Code
}

func TestReminderIsDeliveredOnce(t *testing.T) {
	st := newMemStore()
	h := newHandler(st)
	body := deliveredEvent(t, "ev-1", reminderData(7))

	for i := range 2 {
		if got := deliver(t, h, body); got != dapr.Success {
			t.Fatalf("delivery #%d: status = %q, want %q", i+1, got, dapr.Success)
		}
		in := st.inbox(t)
		if len(in.Items) != 1 {
			t.Fatalf("after delivery #%d the inbox has %d entries, want 1", i+1, len(in.Items))
		}
		due := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
		want := notifierapi.Notification{ID: "ev-1", TaskID: 7, Title: "task 7", DueAt: &due,
			ReminderAt: time.Date(2026, 3, 10, 8, 30, 0, 0, time.UTC), CreatedAt: now}
		got := in.Items[0]
		if got.ID != want.ID || got.TaskID != want.TaskID || got.Title != want.Title || got.DueAt == nil ||
			!got.DueAt.Equal(*want.DueAt) || !got.ReminderAt.Equal(want.ReminderAt) || !got.CreatedAt.Equal(want.CreatedAt) ||
			got.ReadAt != nil {
			t.Errorf("entry = %+v, want %+v", got, want)
		}
	}
	// The duplicate is recognised without writing.
	if _, saves, _ := st.counts(); saves != 1 {
		t.Errorf("SaveState called %d times, want 1", saves)
	}

	// Another event for the same task (e.g. a later reminder) is a new entry,
	// newest first.
	if got := deliver(t, h, deliveredEvent(t, "ev-2", reminderData(7))); got != dapr.Success {
		t.Fatalf("status = %q", got)
	}
	if got := ids(st.inbox(t).Items); !reflect.DeepEqual(got, []string{"ev-2", "ev-1"}) {
		t.Errorf("inbox = %v, want [ev-2 ev-1]", got)
	}
}

// A writer that gets between the handler's read and write makes the save a
// conflict; the handler reads again, keeps the other writer's change and
// succeeds.
func TestConcurrentWriter(t *testing.T) {
	// prepend returns an interference that adds n to the stored inbox, as
	// another replica would.
	prepend := func(n notifierapi.Notification) func(s *memStore, key string) {
		return func(s *memStore, key string) {
			var in notifier.Inbox
			if it, ok := s.items[key]; ok {
				_ = json.Unmarshal(it.value, &in)
			}
			in.Items = append([]notifierapi.Notification{n}, in.Items...)
			b, _ := json.Marshal(in)
			s.put(key, b)
		}
	}
	other := notifierapi.Notification{ID: "other", TaskID: 99, Title: "from another replica"}
	tests := []struct {
		name       string
		existing   bool // whether the inbox exists before the delivery
		interfere  func(s *memStore, key string)
		want       []string
		wantWrites int // successful saves by the handler
	}{
		{"stale etag on an existing inbox", true, prepend(other), []string{"ev-new", "other", "ev-old"}, 1},
		{"inbox created meanwhile (empty etag)", false, prepend(other), []string{"ev-new", "other"}, 1},
		// The same event handled by another replica at the same time: after
		// the conflict the handler sees it and does not add it again.
		{"same event stored meanwhile", true, prepend(notifierapi.Notification{ID: "ev-new", TaskID: 2}), []string{"ev-new", "ev-old"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			h := newHandler(st)
			if tt.existing {
				if got := deliver(t, h, deliveredEvent(t, "ev-old", reminderData(1))); got != dapr.Success {
					t.Fatalf("setup: %q", got)
				}
			}
			g0, s0, _ := st.counts()
			st.mu.Lock()
			st.interfere = tt.interfere
			st.mu.Unlock()

			if got := deliver(t, h, deliveredEvent(t, "ev-new", reminderData(2))); got != dapr.Success {
				t.Errorf("status = %q, want %q", got, dapr.Success)
			}
			if got := ids(st.inbox(t).Items); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("inbox = %v, want %v", got, tt.want)
			}
			// gets: the inbox, after the conflict the delivery marker, the
			// inbox again.
			g, s, c := st.counts()
			if g-g0 != 3 || c != 1 || s-s0-c != tt.wantWrites {
				t.Errorf("gets %d, saves %d, conflicts %d; want 3 gets, 1 conflict, %d successful saves", g-g0, s-s0, c, tt.wantWrites)
			}
		})
	}
}

func TestStoreFailuresAskForRedelivery(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *memStore)
	}{
		{"SaveState fails", func(s *memStore) { s.saveErr = errors.New("sidecar unavailable") }},
		{"inbox is corrupt", func(s *memStore) { s.items["inbox-YWxpY2U"] = memItem{value: []byte("{nope"), etag: 1} }},
		// Bounded: gives up after a number of attempts rather than looping.
		{"conflicts never end", func(s *memStore) { s.conflictAlways = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			tt.setup(st)
			if got := deliver(t, newHandler(st), deliveredEvent(t, "ev-1", reminderData(7))); got != dapr.Retry {
				t.Errorf("status = %q, want %q", got, dapr.Retry)
			}
			if _, _, c := st.counts(); st.conflictAlways && c < 2 {
				t.Errorf("%d conflicts, want the handler to try again", c)
			}
		})
	}
}

// The conflict retries end with the request: a delivery the sidecar gave
// up on is not retried on.
func TestConflictRetriesEndWithTheRequest(t *testing.T) {
	st := newMemStore()
	st.conflictAlways = true
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/events/reminders",
		strings.NewReader(string(deliveredEvent(t, "ev-1", reminderData(7)))))
	req.Header.Set("dapr-api-token", appToken)
	w := httptest.NewRecorder()
	newHandler(st).ServeHTTP(w, req)
	if !strings.Contains(w.Body.String(), `"RETRY"`) {
		t.Errorf("answer %d %s, want RETRY", w.Code, w.Body)
	}
	if _, _, c := st.counts(); c != 1 {
		t.Errorf("%d conflicts, want 1: no attempt after the request ended", c)
	}
}

func TestMalformedRemindersAreDropped(t *testing.T) {
	with := func(change func(d map[string]any)) any {
		d := reminderData(7)
		change(d)
		return d
	}
	tests := []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"missing reminder_at", func(t *testing.T) []byte {
			return deliveredEvent(t, "ev", with(func(d map[string]any) { delete(d, "reminder_at") }))
		}},
		{"null reminder_at", func(t *testing.T) []byte {
			return deliveredEvent(t, "ev", with(func(d map[string]any) { d["reminder_at"] = nil }))
		}},
		{"missing event_type", func(t *testing.T) []byte {
			return deliveredEvent(t, "ev", with(func(d map[string]any) { delete(d, "event_type") }))
		}},
		{"missing user_id", func(t *testing.T) []byte {
			return deliveredEvent(t, "ev", with(func(d map[string]any) { delete(d, "user_id") }))
		}},
		{"task_id as a string", func(t *testing.T) []byte {
			return deliveredEvent(t, "ev", with(func(d map[string]any) { d["task_id"] = "7" }))
		}},
		{"task_id zero", func(t *testing.T) []byte {
			return deliveredEvent(t, "ev", with(func(d map[string]any) { d["task_id"] = 0 }))
		}},
		{"no data", func(t *testing.T) []byte { return deliveredEvent(t, "ev", nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			if got := deliver(t, newHandler(st), tt.body(t)); got != dapr.Drop {
				t.Errorf("status = %q, want %q", got, dapr.Drop)
			}
			if g, s, _ := st.counts(); g != 0 || s != 0 {
				t.Errorf("state store used (%d gets, %d saves) for a malformed event", g, s)
			}
		})
	}
}

// An event of a type the reminders topic did not have in this version (a
// newer producer's) is acknowledged and has no effect: it is not ours to
// deliver, nor to dead-letter.
func TestUnknownEventTypeIsAcknowledged(t *testing.T) {
	st := newMemStore()
	d := reminderData(7)
	d["event_type"] = "ReminderSnoozed"
	if got := deliver(t, newHandler(st), deliveredEvent(t, "ev-snoozed", d)); got != dapr.Success {
		t.Errorf("status = %q, want %q", got, dapr.Success)
	}
	if g, s, _ := st.counts(); g != 0 || s != 0 {
		t.Errorf("state store used (%d gets, %d saves) for an event of an unknown type", g, s)
	}
}

func TestInboxIsBounded(t *testing.T) {
	st := newMemStore()
	full := notifier.Inbox{}
	for i := range notifier.MaxInbox {
		full.Items = append(full.Items, notifierapi.Notification{ID: "old-" + strconv.Itoa(i), TaskID: int64(i + 1)})
	}
	b, _ := json.Marshal(full)
	st.put("inbox-YWxpY2U", b) // base64url("alice")

	if got := deliver(t, newHandler(st), deliveredEvent(t, "ev-new", reminderData(7))); got != dapr.Success {
		t.Fatalf("status = %q", got)
	}
	items := st.inbox(t).Items
	if len(items) != notifier.MaxInbox {
		t.Fatalf("inbox has %d entries, want %d", len(items), notifier.MaxInbox)
	}
	// The oldest entry is the one dropped.
	if items[0].ID != "ev-new" || items[1].ID != "old-0" || items[len(items)-1].ID != fmt.Sprintf("old-%d", notifier.MaxInbox-2) {
		t.Errorf("inbox = [%s %s ... %s], want [ev-new old-0 ... old-%d]",
			items[0].ID, items[1].ID, items[len(items)-1].ID, notifier.MaxInbox-2)
	}
}

// A late delivery of an old reminder into a full inbox stays (it is news
// to its reader); the entry that arrived first goes.
func TestFullInboxKeepsALateOldReminder(t *testing.T) {
	st := newMemStore()
	full := notifier.Inbox{}
	arrived := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for i := range notifier.MaxInbox {
		// Newest reminder first; the first to arrive is in the middle.
		at := arrived.Add(time.Duration((i+7)%notifier.MaxInbox) * time.Second)
		full.Items = append(full.Items, notifierapi.Notification{ID: "old-" + strconv.Itoa(i), TaskID: int64(i + 1),
			ReminderAt: arrived.Add(-time.Duration(i) * time.Minute), CreatedAt: at})
	}
	b, _ := json.Marshal(full)
	st.put("inbox-YWxpY2U", b)
	d := reminderData(7)
	d["reminder_at"] = "2020-01-01T00:00:00Z" // older than every entry
	if got := deliver(t, newHandler(st), deliveredEvent(t, "ev-late", d)); got != dapr.Success {
		t.Fatalf("status = %q", got)
	}
	got := ids(st.inbox(t).Items)
	if len(got) != notifier.MaxInbox || got[len(got)-1] != "ev-late" {
		t.Fatalf("inbox ends with %v (%d entries), want the late reminder last of %d", got[len(got)-3:], len(got), notifier.MaxInbox)
	}
	first := "old-" + strconv.Itoa(notifier.MaxInbox-7) // arrived at +0s
	if slices.Contains(got, first) {
		t.Errorf("%s, the first to arrive, is still in the inbox", first)
	}
}

// Deduplication does not rest on the bounded inbox: a ReminderDue replayed
// after MaxInbox newer ones evicted its entry is still a duplicate.
func TestReplayAfterEvictionIsADuplicate(t *testing.T) {
	st := newMemStore()
	h := newHandler(st)
	first := deliveredEvent(t, "ev-first", reminderData(1))
	if got := deliver(t, h, first); got != dapr.Success {
		t.Fatalf("status = %q", got)
	}
	for i := range notifier.MaxInbox {
		// Later reminders than ev-first's (08:30).
		d := reminderData(int64(i + 2))
		d["reminder_at"] = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		if got := deliver(t, h, deliveredEvent(t, "ev-"+strconv.Itoa(i), d)); got != dapr.Success {
			t.Fatalf("delivery %d: %q", i, got)
		}
	}
	before := ids(st.inbox(t).Items)
	if slices.Contains(before, "ev-first") {
		t.Fatal("setup: ev-first is still in the inbox")
	}
	if got := deliver(t, h, first); got != dapr.Success {
		t.Fatalf("replay: status = %q, want %q", got, dapr.Success)
	}
	if after := ids(st.inbox(t).Items); !reflect.DeepEqual(after, before) {
		t.Errorf("the replay changed the inbox: first entries %v, want %v", after[:3], before[:3])
	}
}

// One task's reminders delivered shuffled and duplicated, as brokers other
// than Kafka deliver them (and as a sweep's bulk publish sends them there):
// each is in the inbox once, and the inbox is in reminder order, newest
// first, whatever the order of delivery.
func TestShuffledAndDuplicatedRemindersKeepTheirOrder(t *testing.T) {
	base := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	var want []string // newest first
	var bodies [][]byte
	for i := range 8 {
		id := fmt.Sprintf("ev-%d", i)
		want = append([]string{id}, want...)
		d := reminderData(7)
		d["reminder_at"] = base.Add(time.Duration(i) * 15 * time.Minute).Format(time.RFC3339)
		bodies = append(bodies, deliveredEvent(t, id, d))
	}
	for seed := range uint64(20) {
		st := newMemStore()
		h := newHandler(st)
		for _, b := range consumertest.ShuffledWithDuplicates(rand.New(rand.NewPCG(seed, 1)), bodies) {
			if got := deliver(t, h, b); got != dapr.Success {
				t.Fatalf("seed %d: status = %q", seed, got)
			}
		}
		if got := ids(st.inbox(t).Items); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: inbox = %v, want %v", seed, got, want)
		}
	}
}

func TestListDefaultLimit(t *testing.T) {
	st := newMemStore()
	var in notifier.Inbox
	for i := range notifierapi.DefaultLimit + 5 {
		in.Items = append(in.Items, notifierapi.Notification{ID: "n" + strconv.Itoa(i), TaskID: int64(i + 1)})
	}
	b, _ := json.Marshal(in)
	st.put("inbox-YWxpY2U", b)
	w := call(t, newHandler(st), http.MethodGet, "/inbox?user_id=alice")
	var out notifierapi.InboxPage
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK {
		t.Fatalf("answer %d %s (%v)", w.Code, w.Body, err)
	}
	wantNext := "n" + strconv.Itoa(notifierapi.DefaultLimit-1)
	if len(out.Notifications) != notifierapi.DefaultLimit || out.Notifications[0].ID != "n0" ||
		out.NextCursor == nil || *out.NextCursor != wantNext || out.Unread != notifierapi.DefaultLimit+5 {
		t.Errorf("answer = %d items %v, next %v, unread %d; want %d items from n0, next %s, unread %d",
			len(out.Notifications), ids(out.Notifications), out.NextCursor, out.Unread,
			notifierapi.DefaultLimit, wantNext, notifierapi.DefaultLimit+5)
	}
}

// fiveInbox is alice's inbox after ev-1 ... ev-5 were delivered in order.
func fiveInbox(t *testing.T) (*memStore, http.Handler) {
	t.Helper()
	st := newMemStore()
	h := newHandler(st)
	for i := 1; i <= 5; i++ {
		if got := deliver(t, h, deliveredEvent(t, "ev-"+strconv.Itoa(i), reminderData(int64(i)))); got != dapr.Success {
			t.Fatalf("setup delivery %d: %q", i, got)
		}
	}
	return st, h
}

func TestListInbox(t *testing.T) {
	_, h := fiveInbox(t)
	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantIDs    []string
		wantNext   string // "" = null
		wantCode   string
	}{
		{"first page newest first", "/inbox?user_id=alice&limit=2", 200, []string{"ev-5", "ev-4"}, "ev-4", ""},
		{"second page", "/inbox?user_id=alice&limit=2&cursor=ev-4", 200, []string{"ev-3", "ev-2"}, "ev-2", ""},
		{"last page", "/inbox?user_id=alice&limit=2&cursor=ev-2", 200, []string{"ev-1"}, "", ""},
		{"page exactly to the end has no next", "/inbox?user_id=alice&limit=3&cursor=ev-4", 200, []string{"ev-3", "ev-2", "ev-1"}, "", ""},
		{"past the end", "/inbox?user_id=alice&cursor=ev-1", 200, []string{}, "", ""},
		{"default limit", "/inbox?user_id=alice", 200, []string{"ev-5", "ev-4", "ev-3", "ev-2", "ev-1"}, "", ""},
		{"max limit", "/inbox?user_id=alice&limit=100", 200, []string{"ev-5", "ev-4", "ev-3", "ev-2", "ev-1"}, "", ""},
		{"another user's inbox is empty", "/inbox?user_id=bob", 200, []string{}, "", ""},
		{"limit zero", "/inbox?user_id=alice&limit=0", 400, nil, "", "invalid_query"},
		{"limit negative", "/inbox?user_id=alice&limit=-1", 400, nil, "", "invalid_query"},
		{"limit over the maximum", "/inbox?user_id=alice&limit=101", 400, nil, "", "invalid_query"},
		{"limit not a number", "/inbox?user_id=alice&limit=two", 400, nil, "", "invalid_query"},
		{"unknown cursor", "/inbox?user_id=alice&cursor=ev-404", 400, nil, "", "invalid_cursor"},
		{"no user", "/inbox?limit=2", 400, nil, "", "invalid_query"},
		{"empty user", "/inbox?user_id=", 400, nil, "", "invalid_query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := call(t, h, http.MethodGet, tt.path)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantCode != "" {
				if got := errorCode(t, w); got != tt.wantCode {
					t.Errorf("error code = %q, want %q", got, tt.wantCode)
				}
				return
			}
			var out notifierapi.InboxPage
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if got := ids(out.Notifications); !reflect.DeepEqual(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
			if !strings.Contains(w.Body.String(), `"notifications":[`) {
				t.Errorf("notifications is not an array: %s", w.Body)
			}
			switch {
			case tt.wantNext == "" && out.NextCursor != nil:
				t.Errorf("next_cursor = %q, want null", *out.NextCursor)
			case tt.wantNext != "" && (out.NextCursor == nil || *out.NextCursor != tt.wantNext):
				t.Errorf("next_cursor = %v, want %q", out.NextCursor, tt.wantNext)
			}
			wantUnread := 5
			if strings.HasPrefix(tt.path, "/inbox?user_id=bob") {
				wantUnread = 0
			}
			if out.Unread != wantUnread {
				t.Errorf("unread = %d, want %d", out.Unread, wantUnread)
			}
		})
	}
}

func TestListInboxStoreDown(t *testing.T) {
	st, h := fiveInbox(t)
	st.mu.Lock()
	st.getErr = errors.New("sidecar unavailable")
	st.mu.Unlock()
	w := call(t, h, http.MethodGet, "/inbox?user_id=alice")
	if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != "unavailable" {
		t.Errorf("answer = %d %s, want 503 unavailable", w.Code, w.Body)
	}
}

func TestMarkRead(t *testing.T) {
	st, h := fiveInbox(t)

	w := markRead(t, h, "alice", "ev-3")
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200 (body %s)", w.Code, w.Body)
	}
	var n notifierapi.Notification
	if err := json.Unmarshal(w.Body.Bytes(), &n); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if n.ID != "ev-3" || n.TaskID != 3 || n.ReadAt == nil || !n.ReadAt.Equal(now) {
		t.Errorf("answer = %+v, want ev-3 read at %s", n, now)
	}
	for _, it := range st.inbox(t).Items {
		if read := it.ReadAt != nil; read != (it.ID == "ev-3") {
			t.Errorf("stored %s read_at = %v", it.ID, it.ReadAt)
		}
	}
	var list notifierapi.InboxPage
	if err := json.Unmarshal(call(t, h, http.MethodGet, "/inbox?user_id=alice").Body.Bytes(), &list); err != nil || list.Unread != 4 {
		t.Errorf("unread after one read = %d (%v), want 4", list.Unread, err)
	}

	// Reading it again keeps the first read time and writes nothing.
	_, saves, _ := st.counts()
	h2 := newHandler(st) // a later clock must not move read_at
	later := markRead(t, h2, "alice", "ev-3")
	var again notifierapi.Notification
	if err := json.Unmarshal(later.Body.Bytes(), &again); err != nil || later.Code != http.StatusOK ||
		again.ReadAt == nil || !again.ReadAt.Equal(now) {
		t.Errorf("second read answer = %d %s", later.Code, later.Body)
	}
	if _, s, _ := st.counts(); s != saves {
		t.Errorf("second read saved the inbox (%d saves, was %d)", s, saves)
	}

	for _, c := range [][2]string{{"alice", "ev-404"}, {"bob", "ev-3"}} {
		w := markRead(t, h, c[0], c[1])
		if w.Code != http.StatusNotFound || errorCode(t, w) != "not_found" {
			t.Errorf("mark read %v = %d %s, want 404 not_found", c, w.Code, w.Body)
		}
	}
	for _, body := range []string{``, `{}`, `{"user_id":"alice"}`, `{"id":"ev-3"}`, `[]`, `{"user_id":1,"id":"ev-3"}`} {
		w := callBody(t, h, http.MethodPost, "/inbox/read", body)
		if w.Code != http.StatusBadRequest || errorCode(t, w) != "invalid_body" {
			t.Errorf("mark read with body %q = %d %s, want 400 invalid_body", body, w.Code, w.Body)
		}
	}

	st.mu.Lock()
	st.getErr = errors.New("sidecar unavailable")
	st.mu.Unlock()
	if w := markRead(t, h, "alice", "ev-2"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("mark read with the store down = %d, want 503", w.Code)
	}
}

// When the notification disappears between the read and the write of
// POST .../read (another writer evicted it: the inbox is bounded), the retry
// no longer finds it, and the answer must say so.
func TestMarkReadOfANotificationRemovedMeanwhile(t *testing.T) {
	st, h := fiveInbox(t)
	st.mu.Lock()
	st.interfere = func(s *memStore, key string) {
		var in notifier.Inbox
		_ = json.Unmarshal(s.items[key].value, &in)
		kept := in.Items[:0]
		for _, n := range in.Items {
			if n.ID != "ev-3" {
				kept = append(kept, n)
			}
		}
		in.Items = kept
		b, _ := json.Marshal(in)
		s.put(key, b)
	}
	st.mu.Unlock()
	w := markRead(t, h, "alice", "ev-3")
	if w.Code != http.StatusNotFound {
		t.Errorf("status = %d (body %s), want 404: ev-3 is no longer in the inbox", w.Code, w.Body)
	}
}

func TestSubscribe(t *testing.T) {
	got := consumertest.Subscriptions(t, newHandler(newMemStore()), appToken)
	want := []dapr.Subscription{{
		PubSubName:      "kafka-pubsub",
		Topic:           "reminders",
		Routes:          dapr.Routes{Default: "/events/reminders"},
		DeadLetterTopic: "reminders-dlq",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions = %+v, want %+v", got, want)
	}
}

func TestAppToken(t *testing.T) {
	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{"delivery without token", http.MethodPost, "/events/reminders", "", http.StatusUnauthorized},
		{"delivery with wrong token", http.MethodPost, "/events/reminders", "wrong", http.StatusUnauthorized},
		{"inbox without token", http.MethodGet, "/inbox?user_id=alice", "", http.StatusUnauthorized},
		{"mark read without token", http.MethodPost, "/inbox/read", "", http.StatusUnauthorized},
		{"inbox with token", http.MethodGet, "/inbox?user_id=alice", appToken, http.StatusOK},
		{"healthz is open", http.MethodGet, "/healthz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(string(deliveredEvent(t, "ev-1", reminderData(7)))))
			if tt.token != "" {
				req.Header.Set("dapr-api-token", tt.token)
			}
			w := httptest.NewRecorder()
			newHandler(st).ServeHTTP(w, req)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.want, w.Body)
			}
			if g, s, _ := st.counts(); tt.want == http.StatusUnauthorized && (g != 0 || s != 0) {
				t.Errorf("an unauthorized request used the state store (%d gets, %d saves)", g, s)
			}
		})
	}
}

func TestConsumerSuite(t *testing.T) {
	consumertest.Run(t, func(t *testing.T) consumertest.Consumer {
		st := newMemStore()
		return consumertest.Consumer{
			Handler: newHandler(st), AppToken: appToken,
			Path: "/events/reminders", Topic: events.TopicReminders,
			Event: func(id string) []byte { return deliveredEvent(t, id, reminderData(7)) },
			// Effects counts the notifications delivered, in every inbox.
			Effects: func(t *testing.T) int {
				st.mu.Lock()
				defer st.mu.Unlock()
				n := 0
				for key, it := range st.items {
					var in notifier.Inbox
					if !strings.HasPrefix(key, "inbox-") {
						continue
					}
					if err := json.Unmarshal(it.value, &in); err != nil {
						t.Fatal(err)
					}
					n += len(in.Items)
				}
				return n
			},
			FailStorage: func(fail bool) {
				st.mu.Lock()
				defer st.mu.Unlock()
				st.getErr, st.saveErr = nil, nil
				if fail {
					st.getErr, st.saveErr = errors.New("sidecar unavailable"), errors.New("sidecar unavailable")
				}
			},
		}
	})
}

// Each event is one log line and one count. The end-to-end tests find the
// deliveries by the message "notification delivered" and these attributes.
func TestLogLineAndOutcomes(t *testing.T) {
	var logs strings.Builder
	tm := telemetry.NewMetrics("test")
	st := newMemStore()
	h := newObservedHandler(st, slog.New(slog.NewJSONHandler(&logs, nil)), tm)
	snoozed := reminderData(7)
	snoozed["event_type"] = "ReminderSnoozed"
	noUser := reminderData(7)
	delete(noUser, "user_id")
	for _, body := range [][]byte{
		deliveredEvent(t, "ev-1", reminderData(7)),
		deliveredEvent(t, "ev-1", reminderData(7)),
		deliveredEvent(t, "ev-snoozed", snoozed),
		deliveredEvent(t, "ev-bad", noUser),
	} {
		deliver(t, h, body)
	}
	st.mu.Lock()
	st.getErr = errors.New("sidecar unavailable")
	st.mu.Unlock()
	deliver(t, h, deliveredEvent(t, "ev-2", reminderData(8)))

	for _, c := range []struct{ eventType, outcome string }{
		{"ReminderDue", "delivered"}, {"ReminderDue", "duplicate"}, {"unknown", "ignored"},
		{"malformed", "dropped"}, {"ReminderDue", "retry"},
	} {
		if got := consumertest.EventCount(t, tm, events.TopicReminders, c.eventType, c.outcome); got != 1 {
			t.Errorf("events{%s,%s} = %v, want 1", c.eventType, c.outcome, got)
		}
	}
	lines := consumertest.LogLines(t, logs.String(), "")
	if len(lines) != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", len(lines), logs.String())
	}
	for i, duplicate := range []bool{false, true} {
		l := lines[i]
		want := map[string]any{"msg": "notification delivered", "event_id": "ev-1", "user_id": "alice", "task_id": float64(7),
			"title": "task 7", "due_at": "2026-03-10T10:00:00Z", "reminder_at": "2026-03-10T08:30:00Z",
			"duplicate": duplicate, "event_type": "ReminderDue"}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, l[k], v, l)
			}
		}
		if id, _ := l["trace_id"].(string); len(id) != 32 {
			t.Errorf("line %d: trace_id = %v, want a trace id", i, l["trace_id"])
		}
	}
	for i, msg := range []string{"event of an unknown type, acknowledged", "event dropped to the dead-letter topic",
		"event failed, asking for redelivery"} {
		if got := lines[i+2]["msg"]; got != msg {
			t.Errorf("line %d: msg %v, want %q", i+2, got, msg)
		}
	}
}

// The contract client, served by the real handler: what todo-api calls.
func TestNotifierAPIClient(t *testing.T) {
	_, h := fiveInbox(t)
	bob := reminderData(9)
	bob["user_id"] = "bob"
	if got := deliver(t, h, deliveredEvent(t, "ev-bob", bob)); got != dapr.Success {
		t.Fatalf("setup: %q", got)
	}
	c := notifierapi.Client{Dapr: contracttest.Invoker{AppToken: appToken, Apps: map[string]http.Handler{notifierapi.AppID: h}}}
	ctx := t.Context()

	// alice's inbox, two at a time, following the cursor.
	var seen []string
	q := notifierapi.InboxQuery{UserID: "alice", Limit: 2}
	for pages := 0; ; pages++ {
		page, err := c.Inbox(ctx, q)
		if err != nil || page.Unread != 5 {
			t.Fatalf("page %d: %+v, %v; want 5 unread", pages, page, err)
		}
		seen = append(seen, ids(page.Notifications)...)
		if page.NextCursor == nil {
			break
		}
		if pages > 3 {
			t.Fatalf("no end after %d pages: %v", pages, seen)
		}
		q.Cursor = *page.NextCursor
	}
	if want := []string{"ev-5", "ev-4", "ev-3", "ev-2", "ev-1"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("alice's inbox = %v, want %v", seen, want)
	}

	n, err := c.MarkRead(ctx, "alice", "ev-3")
	if err != nil || n.ID != "ev-3" || n.TaskID != 3 || n.ReadAt == nil || !n.ReadAt.Equal(now) {
		t.Fatalf("MarkRead = %+v, %v; want ev-3 read at %s", n, err, now)
	}
	if page, err := c.Inbox(ctx, notifierapi.InboxQuery{UserID: "alice"}); err != nil || page.Unread != 4 {
		t.Errorf("after one read: %+v, %v; want 4 unread", page, err)
	}

	// Refusals are *dapr.AppError: an unknown id, another user's
	// notification, an unknown cursor.
	refused := func(name string, err error, status int) {
		t.Helper()
		var ae *dapr.AppError
		if !errors.As(err, &ae) || ae.Status != status || !ae.Client() {
			t.Errorf("%s: %v, want a client *dapr.AppError %d", name, err, status)
		}
	}
	_, err = c.MarkRead(ctx, "alice", "ev-404")
	refused("unknown id", err, http.StatusNotFound)
	_, err = c.MarkRead(ctx, "bob", "ev-3")
	refused("alice's notification marked by bob", err, http.StatusNotFound)
	_, err = c.MarkRead(ctx, "alice", "ev-bob")
	refused("bob's notification marked by alice", err, http.StatusNotFound)
	_, err = c.Inbox(ctx, notifierapi.InboxQuery{UserID: "bob", Cursor: "ev-4"})
	refused("bob paging with alice's cursor", err, http.StatusBadRequest)

	// bob sees his notification only, unread.
	page, err := c.Inbox(ctx, notifierapi.InboxQuery{UserID: "bob"})
	if err != nil || !reflect.DeepEqual(ids(page.Notifications), []string{"ev-bob"}) || page.Unread != 1 || page.NextCursor != nil {
		t.Errorf("bob's inbox = %+v, %v; want [ev-bob], 1 unread", page, err)
	}
}

package api_test

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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	apiclient "github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/client/clienttest"
	"github.com/evolution-todo/todo/internal/audit"
	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/contract/contracttest"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/notifier"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// Every public route is described, and every described operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range api.New(nil, nil, nil, nil, api.Config{}).Routes() {
		if !rt.Internal {
			served[rt.Method+" "+rt.Path] = true
		}
	}
	for k := range served {
		if !described[k] {
			t.Errorf("route %s is served but not in openapi.yaml", k)
		}
	}
	for k := range described {
		if !served[k] {
			t.Errorf("openapi.yaml describes %s, which is not served", k)
		}
	}
	// Auth in the description agrees with the routes.
	for _, rt := range api.New(nil, nil, nil, nil, api.Config{}).Routes() {
		if rt.Internal {
			continue
		}
		item := doc.Paths.Find(rt.Path)
		if item == nil || item.GetOperation(rt.Method) == nil {
			continue // reported above
		}
		op := item.GetOperation(rt.Method)
		secured := op.Security == nil || len(*op.Security) > 0 // nil: the document's default (bearer)
		if secured != rt.Auth {
			t.Errorf("%s %s: described auth %v, route auth %v", rt.Method, rt.Path, secured, rt.Auth)
		}
	}
}

// system is todo-api over PostgreSQL with audit-service's and
// notification-service's real handlers behind its invoker, the way their
// sidecars would reach them, and clients whose every exchange the
// validator checks against openapi.yaml.
type system struct {
	t         *testing.T
	v         *clienttest.Validator
	api       string // the main server's URL
	limited   string // the same stores, a write limit of 1 at once
	broken    string // a store that always fails
	unreached string // the same stores, audit- and notification-service unreachable
	auditDB   *audit.Store
	notifier  http.Handler
}

const appToken = "app-token"

func newSystem(t *testing.T) *system {
	t.Helper()
	v, err := clienttest.NewValidator(api.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(jwtCfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := pgtest.NewPool(t)
	if err := audit.Migrate(context.Background(), pool, log); err != nil {
		t.Fatal(err)
	}
	st := store.New(pool)
	s := &system{t: t, v: v, auditDB: audit.NewStore(pool)}
	s.notifier = (&notifier.Handler{State: newStateStore(), StoreName: "statestore", Log: log,
		PubSub: events.PubSubName, AppToken: appToken, Now: time.Now}).Routes()
	apps := contracttest.Invoker{AppToken: appToken, Apps: map[string]http.Handler{
		"audit-service":        (&audit.Handler{Store: s.auditDB, Log: log, PubSub: events.PubSubName, AppToken: appToken}).Routes(),
		"notification-service": s.notifier,
	}}
	cfg := api.Config{AuditAppID: "audit-service", NotifierAppID: "notification-service"}
	serve := func(st api.Store, inv api.Invoker, cfg api.Config) string {
		srv := httptest.NewServer(api.New(st, verifier, inv, log, cfg).PublicHandler())
		t.Cleanup(srv.Close)
		return srv.URL
	}
	s.api = serve(st, apps, cfg)
	limited := cfg
	limited.WriteRate, limited.WriteBurst = 1e-6, 1
	s.limited = serve(st, apps, limited)
	s.broken = serve(brokenStore{}, apps, cfg)
	s.unreached = serve(st, contracttest.Invoker{}, cfg)
	return s
}

// client is a typed client of the server at base as user ("" sends no
// valid token), checked by the validator.
func (s *system) client(base, user string) *apiclient.Client {
	tok := "not-a-token"
	if user != "" {
		tok = token(s.t, user)
	}
	return apiclient.New(base, tok, apiclient.WithTransport(s.v.Transport(nil)))
}

// raw sends a request the typed client would not make, through the
// validator.
func (s *system) raw(method, target, user, contentType, body string) int {
	s.t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+token(s.t, user))
	}
	resp, err := (&http.Client{Transport: s.v.Transport(nil)}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, target, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// remind delivers a ReminderDue for task id of user to notification-service
// as its sidecar would, and returns the notification's id.
func (s *system) remind(user string, id int64, title string, at time.Time) string {
	s.t.Helper()
	eventID := events.ReminderEventID(id, at)
	body, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": eventID, "source": "reminder-service", "type": "todo.ReminderDue.v1",
		"datacontenttype": "application/json", "topic": events.TopicReminders, "pubsubname": events.PubSubName,
		"data": map[string]any{"event_type": "ReminderDue", "task_id": id, "user_id": user, "title": title,
			"due_at": nil, "reminder_at": at.Format(time.RFC3339Nano)},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/events/reminders", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("dapr-api-token", appToken)
	w := httptest.NewRecorder()
	s.notifier.ServeHTTP(w, req)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "SUCCESS") {
		s.t.Fatalf("deliver the reminder: %d %s", w.Code, w.Body)
	}
	return eventID
}

// audited records task t's event in audit-service, as its subscription
// would.
func (s *system) audited(t task.Task, eventType string) {
	s.t.Helper()
	e := t.Event(eventType, time.Now())
	raw, err := json.Marshal(e)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.auditDB.Record(context.Background(), uuid.NewString(), e, raw); err != nil {
		s.t.Fatal(err)
	}
}

// want fails unless err is the API's refusal with status.
func want(t *testing.T, what string, err error, status int) {
	t.Helper()
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code == "" || apiErr.Message == "" {
		t.Errorf("%s: %v, want a %d with the API's error body", what, err, status)
	}
}

// Every answer of the public API, of every route and every status
// openapi.yaml documents for it, matches openapi.yaml: each is made here,
// through the typed client (or, for what it would not send, a raw request)
// and the validating transport, against todo-api with its real store and
// the real handlers of audit-service and notification-service behind it.
func TestResponsesMatchSchemas(t *testing.T) {
	s := newSystem(t)
	ctx := t.Context()
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	alice, bob, nobody := s.client(s.api, "alice"), s.client(s.api, "bob"), s.client(s.api, "")
	at := func(v string) *time.Time { tm, _ := time.Parse(time.RFC3339, v); return &tm }

	// Tasks: every route, as the owner.
	created, err := alice.CreateTask(ctx, apiclient.NewTask{Title: "x", DueAt: at("2026-01-01T00:00:00Z"), Tags: []string{"a"},
		ReminderAt: at("2025-12-31T23:00:00Z"), Priority: apiclient.PriorityHigh, Recurrence: apiclient.RecurrenceMonthly, Timezone: "Europe/Berlin"})
	ok("create", err)
	plain, err := alice.CreateTask(ctx, apiclient.NewTask{Title: "plain"})
	ok("create a plain task", err)
	_, err = alice.ListTasks(ctx, apiclient.ListQuery{})
	ok("list", err)
	page, err := alice.ListTasks(ctx, apiclient.ListQuery{Status: apiclient.StatusOpen, Priority: apiclient.PriorityHigh, Tag: "a", Q: "x",
		DueBefore: at("2027-01-01T00:00:00Z"), DueAfter: at("2025-01-01T00:00:00Z"), Sort: apiclient.SortDueAt, Order: apiclient.OrderDesc, Limit: 1})
	ok("list with every filter", err)
	if len(page.Tasks) != 1 || page.Tasks[0].ID != created.ID {
		t.Errorf("filtered list = %+v, want the created task", page.Tasks)
	}
	all, err := alice.ListTasks(ctx, apiclient.ListQuery{Limit: 1})
	ok("first page", err)
	if all.NextCursor == nil {
		t.Fatal("first page of 2 tasks with limit 1 has no next cursor")
	}
	_, err = alice.ListTasks(ctx, apiclient.ListQuery{Limit: 1, Cursor: *all.NextCursor})
	ok("second page", err)
	_, err = alice.GetTask(ctx, created.ID)
	ok("get", err)
	_, err = alice.UpdateTask(ctx, created.ID, apiclient.TaskPatch{Description: apiclient.Set("d"), DueAt: apiclient.Null[time.Time](),
		Tags: apiclient.Null[[]string](), Priority: apiclient.Null[apiclient.Priority]()})
	ok("update", err)
	_, err = alice.CompleteTask(ctx, created.ID)
	ok("complete", err)
	_, err = alice.ReopenTask(ctx, created.ID)
	ok("reopen", err)
	skipped, err := alice.SkipTask(ctx, created.ID)
	ok("skip", err)
	if !skipped.Skipped || !skipped.Completed {
		t.Errorf("skipped = %+v, want closed as skipped", skipped)
	}
	_, err = alice.ReopenTask(ctx, created.ID)
	ok("reopen the skipped", err)
	want(t, "skip of a task that does not repeat", s.first(alice.SkipTask(ctx, plain.ID)), 409)
	ok("delete", alice.DeleteTask(ctx, plain.ID))

	// The preview of a rule.
	start := time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)
	pv, err := alice.PreviewRecurrence(ctx, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=3", start, "Europe/Berlin", 0)
	ok("preview", err)
	if len(pv.Occurrences) != 3 || pv.Summary == "" || pv.RRule == "" {
		t.Errorf("preview = %+v, want 3 occurrences and a summary", pv)
	}
	want(t, "preview of a bad rule", s.first(alice.PreviewRecurrence(ctx, "FREQ=HOURLY", start, "", 0)), 400)
	want(t, "preview in an unknown zone", s.first(alice.PreviewRecurrence(ctx, "FREQ=DAILY", start, "Mars/Olympus", 0)), 400)
	want(t, "preview of too many", s.first(alice.PreviewRecurrence(ctx, "FREQ=DAILY", start, "", api.MaxPreview+1)), 400)

	// The task routes' refusals.
	want(t, "create without a title", s.first(alice.CreateTask(ctx, apiclient.NewTask{Title: " "})), 400)
	want(t, "list with a bad limit", s.first(alice.ListTasks(ctx, apiclient.ListQuery{Limit: 1000})), 400)
	want(t, "list with a bad cursor", s.first(alice.ListTasks(ctx, apiclient.ListQuery{Cursor: "nope"})), 400)
	for name, call := range s.taskCalls(alice) {
		want(t, name+" of id 0", call(0), 400)
		want(t, name+" of another user's task", call(created.ID+1000), 404)
	}
	want(t, "update with a null title", s.first(alice.UpdateTask(ctx, created.ID, apiclient.TaskPatch{Title: apiclient.Null[string]()})), 400)
	big := `{"title":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
	for _, r := range []struct{ method, path string }{{"POST", "/api/tasks"}, {"PATCH", "/api/tasks/" + strconv.FormatInt(created.ID, 10)}} {
		if got := s.raw(r.method, s.api+r.path, "alice", "application/json", big); got != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a body over the limit: %d, want 413", r.method, r.path, got)
		}
		if got := s.raw(r.method, s.api+r.path, "alice", "text/plain", `{"title":"t"}`); got != http.StatusUnsupportedMediaType {
			t.Errorf("%s %s as text/plain: %d, want 415", r.method, r.path, got)
		}
	}

	// History and notifications, through audit-service and
	// notification-service.
	s.audited(task.Task{ID: created.ID, UserID: "alice", Title: "x", Version: 1, Tags: []string{"a"}, DueAt: at("2026-01-01T00:00:00Z")}, "TaskCreated")
	s.audited(task.Task{ID: created.ID, UserID: "alice", Title: "x", Version: 2, Tags: []string{}}, "TaskUpdated")
	h, err := alice.History(ctx, created.ID, apiclient.PageQuery{Limit: 1})
	ok("history", err)
	if len(h.Events) != 1 || h.NextCursor == nil || h.TaskID != created.ID {
		t.Fatalf("first history page = %+v, want one event and a cursor", h)
	}
	h, err = alice.History(ctx, created.ID, apiclient.PageQuery{Limit: 1, Cursor: *h.NextCursor})
	ok("history, second page", err)
	if len(h.Events) != 1 || h.NextCursor != nil || h.Events[0].Version != 2 {
		t.Errorf("second history page = %+v, want version 2 and no cursor", h)
	}
	want(t, "history with a bad limit", s.first(alice.History(ctx, created.ID, apiclient.PageQuery{Limit: 5000})), 400)
	want(t, "history with a cursor audit-service did not make", s.first(alice.History(ctx, created.ID, apiclient.PageQuery{Cursor: "bm90LW91cnM"})), 400)
	want(t, "history of id 0", s.first(alice.History(ctx, 0, apiclient.PageQuery{})), 400)
	want(t, "history of another user's task", s.first(bob.History(ctx, created.ID, apiclient.PageQuery{})), 404)

	first := s.remind("alice", created.ID, "x", time.Now().Add(-time.Hour).UTC())
	s.remind("alice", created.ID, "x", time.Now().Add(-time.Minute).UTC())
	inbox, err := alice.Notifications(ctx, apiclient.PageQuery{Limit: 1})
	ok("notifications", err)
	if len(inbox.Notifications) != 1 || inbox.NextCursor == nil || inbox.Unread != 2 {
		t.Fatalf("first inbox page = %+v, want one of 2 unread and a cursor", inbox)
	}
	inbox, err = alice.Notifications(ctx, apiclient.PageQuery{Cursor: *inbox.NextCursor})
	ok("notifications, second page", err)
	if len(inbox.Notifications) != 1 || inbox.Notifications[0].ID != first || inbox.NextCursor != nil {
		t.Errorf("second inbox page = %+v, want the older notification %s", inbox, first)
	}
	read, err := alice.MarkNotificationRead(ctx, first)
	ok("mark read", err)
	if read.ID != first || read.ReadAt == nil {
		t.Errorf("marked read: %+v", read)
	}
	want(t, "notifications with a bad limit", s.first(alice.Notifications(ctx, apiclient.PageQuery{Limit: 101})), 400)
	want(t, "notifications with a cursor not in the inbox", s.first(alice.Notifications(ctx, apiclient.PageQuery{Cursor: uuid.NewString()})), 400)
	want(t, "mark read of a malformed id", s.first(alice.MarkNotificationRead(ctx, "not-a-uuid")), 400)
	want(t, "mark read of another user's notification", s.first(bob.MarkNotificationRead(ctx, first)), 404)

	// Without a valid token, on every route that needs one.
	for name, call := range s.everyAuthCall(nobody, created.ID, first) {
		want(t, name+" without a valid token", call(), 401)
	}

	// The write limit, on every route that writes.
	limited := s.client(s.limited, "carol")
	mine, err := limited.CreateTask(ctx, apiclient.NewTask{Title: "the one write"})
	ok("the first write under the limit", err)
	for name, call := range s.everyAuthCall(limited, mine.ID, first) {
		var apiErr *apiclient.Error
		err := call()
		if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests && apiErr.RetryAfter < time.Second {
			t.Errorf("%s: 429 with Retry-After %s, want at least 1 s", name, apiErr.RetryAfter)
		}
		if strings.HasPrefix(name, "GET") {
			if err != nil {
				t.Errorf("%s under the write limit: %v, reads are not limited", name, err)
			}
			continue
		}
		want(t, name+" over the write limit", err, 429)
	}

	// A store that fails, and apps that cannot be reached.
	broken := s.client(s.broken, "alice")
	for name, call := range s.everyAuthCall(broken, created.ID, first) {
		if strings.Contains(name, "notification") || strings.Contains(name, "preview") {
			continue // they do not reach the store
		}
		want(t, name+" with the database down", call(), 500)
	}
	if r, err := broken.Ready(ctx); !errors.As(err, new(*apiclient.Error)) || r.Status != "unavailable" || r.Checks["database"] != "unreachable" {
		t.Errorf("readiness with the database down: %+v, %v", r, err)
	}
	unreached := s.client(s.unreached, "alice")
	want(t, "history with audit-service unreachable", s.first(unreached.History(ctx, created.ID, apiclient.PageQuery{})), 503)
	want(t, "notifications with notification-service unreachable", s.first(unreached.Notifications(ctx, apiclient.PageQuery{})), 503)
	want(t, "mark read with notification-service unreachable", s.first(unreached.MarkNotificationRead(ctx, first)), 503)

	// The routes without auth, and a malformed query on each.
	ok("health", alice.Health(ctx))
	r, err := alice.Ready(ctx)
	ok("readiness", err)
	if r.Status != "ready" || r.Checks["database"] != "ok" {
		t.Errorf("readiness = %+v", r)
	}
	yml, err := alice.OpenAPIYAML(ctx)
	ok("openapi.yaml", err)
	if string(yml) != string(api.OpenAPIYAML) {
		t.Error("the served openapi.yaml is not the embedded one")
	}
	js, err := alice.OpenAPIJSON(ctx)
	ok("openapi.json", err)
	for _, path := range []string{"/healthz", "/readyz", "/api/openapi.yaml", "/api/openapi.json"} {
		if got := s.raw("GET", s.api+path+"?x=%zz", "", "", ""); got != http.StatusBadRequest {
			t.Errorf("GET %s with a malformed query: %d, want 400", path, got)
		}
	}

	// The served JSON form is the same document.
	served, err := openapi3.NewLoader().LoadFromData(js)
	if err != nil {
		t.Fatalf("served openapi.json does not load: %v", err)
	}
	if got, want := keys(served), keys(loadSpec(t)); got != want {
		t.Errorf("served paths %s, want %s", got, want)
	}

	for _, err := range s.v.Errors() {
		t.Error(err)
	}
	// Every documented answer was given and checked. An answer this test
	// cannot make goes in exceptions, with the reason; there is none today.
	exceptions := map[clienttest.Outcome]string{}
	for _, o := range s.v.Missing() {
		if exceptions[o] == "" {
			t.Errorf("no answer of %s was checked against openapi.yaml", o)
		}
	}
	for o, why := range exceptions {
		if !slices.Contains(s.v.Missing(), o) {
			t.Errorf("%s is listed as not checked (%s) but was", o, why)
		}
	}
}

// first returns the error of a client call, for want.
func (s *system) first(_ any, err error) error { return err }

// taskCalls are the client calls of one task id.
func (s *system) taskCalls(c *apiclient.Client) map[string]func(id int64) error {
	ctx := s.t.Context()
	return map[string]func(int64) error{
		"GET task": func(id int64) error { return s.first(c.GetTask(ctx, id)) },
		"PATCH task": func(id int64) error {
			return s.first(c.UpdateTask(ctx, id, apiclient.TaskPatch{Title: apiclient.Set("y")}))
		},
		"DELETE task":   func(id int64) error { return c.DeleteTask(ctx, id) },
		"POST complete": func(id int64) error { return s.first(c.CompleteTask(ctx, id)) },
		"POST reopen":   func(id int64) error { return s.first(c.ReopenTask(ctx, id)) },
		"POST skip":     func(id int64) error { return s.first(c.SkipTask(ctx, id)) },
	}
}

// everyAuthCall is a call of every route that needs a token, named by its
// method first.
func (s *system) everyAuthCall(c *apiclient.Client, id int64, notification string) map[string]func() error {
	ctx := s.t.Context()
	calls := map[string]func() error{
		"POST tasks":             func() error { return s.first(c.CreateTask(ctx, apiclient.NewTask{Title: "t"})) },
		"GET tasks":              func() error { return s.first(c.ListTasks(ctx, apiclient.ListQuery{})) },
		"GET history":            func() error { return s.first(c.History(ctx, id, apiclient.PageQuery{})) },
		"GET notifications":      func() error { return s.first(c.Notifications(ctx, apiclient.PageQuery{})) },
		"POST notification read": func() error { return s.first(c.MarkNotificationRead(ctx, notification)) },
		"GET preview": func() error {
			return s.first(c.PreviewRecurrence(ctx, "FREQ=DAILY", time.Date(2027, 1, 1, 9, 0, 0, 0, time.UTC), "", 0))
		},
	}
	for name, call := range s.taskCalls(c) {
		calls[name] = func() error { return call(id) }
	}
	return calls
}

// brokenStore is a database that is down.
type brokenStore struct{ api.InternalStore }

var errDown = errors.New("database down")

func (brokenStore) CreateTask(context.Context, string, task.Patch) (task.Task, error) {
	return task.Task{}, errDown
}
func (brokenStore) GetTask(context.Context, string, int64) (task.Task, error) {
	return task.Task{}, errDown
}
func (brokenStore) ListTasks(context.Context, string, task.ListQuery) ([]task.Task, string, error) {
	return nil, "", errDown
}
func (brokenStore) UpdateTask(context.Context, string, int64, task.Patch) (task.Task, error) {
	return task.Task{}, errDown
}
func (brokenStore) CompleteTask(context.Context, string, int64) (task.Task, error) {
	return task.Task{}, errDown
}
func (brokenStore) ReopenTask(context.Context, string, int64) (task.Task, error) {
	return task.Task{}, errDown
}
func (brokenStore) SkipTask(context.Context, string, int64) (task.Task, error) {
	return task.Task{}, errDown
}
func (brokenStore) DeleteTask(context.Context, string, int64) error       { return errDown }
func (brokenStore) Ping(context.Context) error                            { return errDown }
func (brokenStore) OwnsTask(context.Context, string, int64) (bool, error) { return false, errDown }

// stateStore is notification-service's state store in memory, with the
// ETag rules of the real one.
type stateStore struct {
	mu    sync.Mutex
	items map[string]stateItem
}

type stateItem struct {
	value []byte
	etag  int
}

func newStateStore() *stateStore { return &stateStore{items: map[string]stateItem{}} }

func (s *stateStore) GetState(_ context.Context, _, key string) ([]byte, string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		return nil, "", false, nil
	}
	return it.value, strconv.Itoa(it.etag), true, nil
}

func (s *stateStore) SaveState(ctx context.Context, store, key string, value any, etag string) error {
	return s.Transact(ctx, store, []dapr.StateOp{{Key: key, Value: value, ETag: etag}})
}

func (s *stateStore) Transact(_ context.Context, _ string, ops []dapr.StateOp) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		cur, exists := s.items[op.Key]
		if (exists && op.ETag != strconv.Itoa(cur.etag)) || (!exists && op.ETag != "") {
			return fmt.Errorf("%s: %w", op.Key, dapr.ErrStateConflict)
		}
	}
	for _, op := range ops {
		if op.Delete {
			delete(s.items, op.Key)
			continue
		}
		b, err := json.Marshal(op.Value)
		if err != nil {
			return err
		}
		s.items[op.Key] = stateItem{value: b, etag: s.items[op.Key].etag + 1}
	}
	return nil
}

// The client's types name exactly the properties openapi.yaml documents,
// and ListQuery sends exactly the documented parameters.
func TestClientTypesMatchSchemas(t *testing.T) {
	doc := loadSpec(t)
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	for _, c := range []struct {
		name   string
		schema *openapi3.Schema
		typ    any
	}{
		{"Task", schema("Task"), apiclient.Task{}},
		{"TaskCreate", schema("TaskCreate"), apiclient.NewTask{}},
		{"TaskPatch", schema("TaskPatch"), apiclient.TaskPatch{}},
		{"TaskList", schema("TaskList"), apiclient.TaskPage{}},
		{"History", schema("History"), apiclient.HistoryPage{}},
		{"History event", schema("History").Properties["events"].Value.Items.Value, apiclient.HistoryEntry{}},
		{"Notification", schema("Notification"), apiclient.Notification{}},
		{"NotificationList", schema("NotificationList"), apiclient.InboxPage{}},
		{"Readiness", schema("Readiness"), apiclient.Readiness{}},
	} {
		var documented []string
		for p := range c.schema.Properties {
			documented = append(documented, p)
		}
		sort.Strings(documented)
		if got := jsonNames(reflect.TypeOf(c.typ)); !slices.Equal(got, documented) {
			t.Errorf("%s: the client's %T has %v, openapi.yaml %v", c.name, c.typ, got, documented)
		}
	}
	at := time.Now()
	all := apiclient.ListQuery{Status: "s", Priority: "p", Tag: "t", Q: "q", DueBefore: &at, DueAfter: &at, Sort: "s", Order: "o", Limit: 1, Cursor: "c"}
	var sent, documented []string
	for name := range all.Values() {
		sent = append(sent, name)
	}
	for _, p := range doc.Paths.Find("/api/tasks").Get.Parameters {
		documented = append(documented, p.Value.Name)
	}
	sort.Strings(sent)
	sort.Strings(documented)
	if !slices.Equal(sent, documented) {
		t.Errorf("ListQuery sends %v, openapi.yaml documents %v", sent, documented)
	}
}

func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func keys(doc *openapi3.T) string {
	var ks []string
	for k := range doc.Paths.Map() {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

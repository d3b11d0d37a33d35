package client_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// request is what the fake API received.
type request struct {
	Method, Path, Query, Auth, ContentType, Body string
}

// fakeAPI answers every request with status and body and records it.
type fakeAPI struct {
	mu      sync.Mutex
	got     []request
	status  int
	body    string
	headers map[string]string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.got = append(f.got, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"),
		r.Header.Get("Content-Type"), string(b)})
	status, body, headers := f.status, f.body, f.headers
	f.mu.Unlock()
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeAPI) answer(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body, f.got, f.headers = status, body, nil, nil
}

func (f *fakeAPI) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) != 1 {
		t.Fatalf("%d requests, want 1: %+v", len(f.got), f.got)
	}
	return f.got[0]
}

func newFake(t *testing.T) (*fakeAPI, *client.Client) {
	f := &fakeAPI{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, client.New(srv.URL+"/", "tok")
}

const taskJSON = `{"id":7,"user_id":"alice","title":"t","description":"","priority":"high","tags":["a"],` +
	`"due_at":"2026-01-31T09:00:00Z","reminder_at":null,"recurrence":"monthly","timezone":"Europe/Berlin",` +
	`"completed":false,"completed_at":null,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z",` +
	`"version":1,"series_id":null}`

// Each method sends its route's request, exactly.
func TestMethodsSendTheRoutes(t *testing.T) {
	f, c := newFake(t)
	ctx := t.Context()
	due := time.Date(2026, 1, 31, 9, 0, 0, 0, time.FixedZone("", 3600))
	n := "0b6f3c1e-2b9a-5f0e-9a57-5c0de1e7a001"
	cases := []struct {
		name   string
		status int
		answer string
		call   func() error
		want   request
	}{
		{"create, defaults", 201, taskJSON, func() error { _, err := c.CreateTask(ctx, client.NewTask{Title: "t"}); return err },
			request{"POST", "/api/tasks", "", "Bearer tok", "application/json", `{"title":"t"}` + "\n"}},
		{"create, every field", 201, taskJSON, func() error {
			_, err := c.CreateTask(ctx, client.NewTask{Title: "<b>", Description: "d", Priority: client.PriorityLow, Tags: []string{"x"},
				DueAt: &due, ReminderAt: &due, Recurrence: client.RecurrenceDaily, Timezone: "UTC"})
			return err
		}, request{"POST", "/api/tasks", "", "Bearer tok", "application/json",
			`{"title":"<b>","description":"d","priority":"low","tags":["x"],"due_at":"2026-01-31T09:00:00+01:00",` +
				`"reminder_at":"2026-01-31T09:00:00+01:00","recurrence":"daily","timezone":"UTC"}` + "\n"}},
		{"list, defaults", 200, `{"tasks":[],"next_cursor":null}`, func() error { _, err := c.ListTasks(ctx, client.ListQuery{}); return err },
			request{"GET", "/api/tasks", "", "Bearer tok", "", ""}},
		{"list, every parameter", 200, `{"tasks":[],"next_cursor":null}`, func() error {
			_, err := c.ListTasks(ctx, client.ListQuery{Status: client.StatusCompleted, Priority: client.PriorityNone, Tag: "a b",
				Q: "x&y", DueBefore: &due, DueAfter: &due, Sort: client.SortTitle, Order: client.OrderDesc, Limit: 5, Cursor: "c/1"})
			return err
		}, request{"GET", "/api/tasks", "cursor=c%2F1&due_after=2026-01-31T09%3A00%3A00%2B01%3A00&due_before=2026-01-31T09%3A00%3A00%2B01%3A00" +
			"&limit=5&order=desc&priority=none&q=x%26y&sort=title&status=completed&tag=a+b", "Bearer tok", "", ""}},
		{"get", 200, taskJSON, func() error { _, err := c.GetTask(ctx, 7); return err },
			request{"GET", "/api/tasks/7", "", "Bearer tok", "", ""}},
		{"update, empty", 200, taskJSON, func() error { _, err := c.UpdateTask(ctx, 7, client.TaskPatch{}); return err },
			request{"PATCH", "/api/tasks/7", "", "Bearer tok", "application/json", "{}\n"}},
		{"update, values and nulls", 200, taskJSON, func() error {
			_, err := c.UpdateTask(ctx, 7, client.TaskPatch{Title: client.Set("a<b"), Description: client.Null[string](),
				Priority: client.Set(client.PriorityHigh), Tags: client.Set([]string{}), DueAt: client.Set(due),
				ReminderAt: client.Null[time.Time](), Recurrence: client.Null[client.Recurrence](), Timezone: client.Set("UTC")})
			return err
		}, request{"PATCH", "/api/tasks/7", "", "Bearer tok", "application/json",
			`{"title":"a<b","description":null,"priority":"high","tags":[],"due_at":"2026-01-31T09:00:00+01:00",` +
				`"reminder_at":null,"recurrence":null,"timezone":"UTC"}` + "\n"}},
		{"delete", 204, "", func() error { return c.DeleteTask(ctx, 7) },
			request{"DELETE", "/api/tasks/7", "", "Bearer tok", "", ""}},
		{"complete", 200, taskJSON, func() error { _, err := c.CompleteTask(ctx, 7); return err },
			request{"POST", "/api/tasks/7/complete", "", "Bearer tok", "", ""}},
		{"reopen", 200, taskJSON, func() error { _, err := c.ReopenTask(ctx, 7); return err },
			request{"POST", "/api/tasks/7/reopen", "", "Bearer tok", "", ""}},
		{"history", 200, `{"task_id":7,"events":[],"next_cursor":null}`, func() error {
			_, err := c.History(ctx, 7, client.PageQuery{Limit: 10, Cursor: "ab_-"})
			return err
		}, request{"GET", "/api/tasks/7/history", "cursor=ab_-&limit=10", "Bearer tok", "", ""}},
		{"notifications", 200, `{"notifications":[],"next_cursor":null,"unread":0}`, func() error {
			_, err := c.Notifications(ctx, client.PageQuery{Cursor: n})
			return err
		}, request{"GET", "/api/notifications", "cursor=" + n, "Bearer tok", "", ""}},
		{"mark read", 200, `{"id":"` + n + `"}`, func() error { _, err := c.MarkNotificationRead(ctx, n); return err },
			request{"POST", "/api/notifications/" + n + "/read", "", "Bearer tok", "", ""}},
		{"mark read escapes the id", 400, `{"error":{"code":"invalid_id","message":"m"}}`, func() error {
			_, err := c.MarkNotificationRead(ctx, "../x?y")
			var apiErr *client.Error
			if errors.As(err, &apiErr) {
				return nil
			}
			return err
		}, request{"POST", "/api/notifications/..%2Fx%3Fy/read", "", "Bearer tok", "", ""}},
		{"health has no token", 200, `{"status":"ok"}`, func() error { return c.Health(ctx) },
			request{"GET", "/healthz", "", "", "", ""}},
		{"readiness has no token", 200, `{"status":"ready","checks":{"database":"ok"}}`, func() error { _, err := c.Ready(ctx); return err },
			request{"GET", "/readyz", "", "", "", ""}},
		{"openapi.yaml", 200, `openapi: 3.0.3`, func() error { _, err := c.OpenAPIYAML(ctx); return err },
			request{"GET", "/api/openapi.yaml", "", "", "", ""}},
		{"openapi.json", 200, `{}`, func() error { _, err := c.OpenAPIJSON(ctx); return err },
			request{"GET", "/api/openapi.json", "", "", "", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.answer(tc.status, tc.answer)
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			if got := f.last(t); got != tc.want {
				t.Errorf("sent\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// Answers decode into the types; bodies come back as they are.
func TestAnswersDecode(t *testing.T) {
	f, c := newFake(t)
	ctx := t.Context()
	f.answer(200, taskJSON)
	got, err := c.GetTask(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)
	want := client.Task{ID: 7, UserID: "alice", Title: "t", Priority: client.PriorityHigh, Tags: []string{"a"}, DueAt: &due,
		Recurrence: client.RecurrenceMonthly, Timezone: "Europe/Berlin", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Version: 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("task\n got %+v\nwant %+v", got, want)
	}
	f.answer(200, `{"task_id":7,"events":[{"event_id":"e","event_type":"TaskCreated","version":1,`+
		`"timestamp":"2026-01-01T00:00:00Z","received_at":"2026-01-01T00:00:01Z","data":{"task_id":7}}],"next_cursor":"n"}`)
	h, err := c.History(ctx, 7, client.PageQuery{})
	if err != nil || len(h.Events) != 1 || string(h.Events[0].Data) != `{"task_id":7}` || *h.NextCursor != "n" {
		t.Errorf("history = %+v, %v", h, err)
	}
	f.answer(200, `{"notifications":[{"id":"n","task_id":7,"title":"t","due_at":null,"reminder_at":"2026-01-01T00:00:00Z",`+
		`"created_at":"2026-01-01T00:00:00Z","read_at":null}],"next_cursor":null,"unread":1}`)
	in, err := c.Notifications(ctx, client.PageQuery{})
	if err != nil || len(in.Notifications) != 1 || in.Notifications[0].TaskID != 7 || in.Unread != 1 || in.NextCursor != nil {
		t.Errorf("inbox = %+v, %v", in, err)
	}
	f.answer(200, "openapi: 3.0.3\n")
	if b, err := c.OpenAPIYAML(ctx); err != nil || string(b) != "openapi: 3.0.3\n" {
		t.Errorf("openapi.yaml = %q, %v", b, err)
	}
}

// Every non-2xx answer is an *Error with the API's error body; another 2xx
// than the route's is an error too.
func TestErrors(t *testing.T) {
	f, c := newFake(t)
	ctx := t.Context()
	f.answer(400, `{"error":{"code":"invalid_field","message":"title: is required","field":"title"}}`)
	_, err := c.CreateTask(ctx, client.NewTask{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != client.CodeInvalidField || apiErr.Field != "title" ||
		apiErr.Message != "title: is required" {
		t.Fatalf("err = %#v", err)
	}
	if got := apiErr.Error(); got != "todo api: 400 invalid_field (title): title: is required" {
		t.Errorf("Error() = %q", got)
	}

	f.answer(429, `{"error":{"code":"rate_limited","message":"slow down"}}`)
	f.headers = map[string]string{"Retry-After": "3"}
	err = c.DeleteTask(ctx, 1)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusTooManyRequests || apiErr.Code != client.CodeRateLimited || apiErr.RetryAfter != 3*time.Second {
		t.Errorf("429: %#v", err)
	}

	f.answer(502, "<html>bad gateway</html>")
	_, err = c.GetTask(ctx, 1)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway || apiErr.Code != "" || apiErr.Message != "<html>bad gateway</html>" {
		t.Errorf("502 from a proxy: %#v", err)
	}

	f.answer(503, `{"status":"unavailable","checks":{"database":"unreachable"}}`)
	r, err := c.Ready(ctx)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || r.Status != "unavailable" || r.Checks["database"] != "unreachable" {
		t.Errorf("readiness 503: %+v, %v", r, err)
	}

	f.answer(200, taskJSON)
	_, err = c.CreateTask(ctx, client.NewTask{Title: "t"})
	if err == nil || errors.As(err, &apiErr) || !strings.Contains(err.Error(), "status 200, want 201") {
		t.Errorf("create answered 200: %v", err)
	}
	f.answer(200, `{"id":`)
	if _, err := c.GetTask(ctx, 1); err == nil || errors.As(err, &apiErr) {
		t.Errorf("a cut answer: %v", err)
	}
}

// A Field sends what it holds, and decodes back.
func TestFieldRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   client.TaskPatch
		want string
	}{
		{client.TaskPatch{}, `{}`},
		{client.TaskPatch{Tags: client.Set[[]string](nil)}, `{"tags":null}`},
		{client.TaskPatch{Title: client.Set(""), Tags: client.Null[[]string]()}, `{"title":"","tags":null}`},
	} {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v encodes as %s, %v; want %s", tc.in, b, err, tc.want)
		}
		var back client.TaskPatch
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(back); string(again) != tc.want {
			t.Errorf("%s decodes and encodes as %s", tc.want, again)
		}
	}
	f := client.Set("x")
	if v, ok := f.Get(); !ok || v != "x" || f.IsNull() || f.IsZero() {
		t.Errorf("Set: %v %v", v, ok)
	}
	n := client.Null[string]()
	if _, ok := n.Get(); ok || !n.IsNull() || n.IsZero() {
		t.Error("Null")
	}
	var zero client.Field[string]
	if _, ok := zero.Get(); ok || zero.IsNull() || !zero.IsZero() {
		t.Error("zero Field")
	}
}

// WithTransport puts a RoundTripper under the client; WithHTTPClient's
// client is not changed by it.
func TestOptions(t *testing.T) {
	f := &fakeAPI{status: 200, body: `{"status":"ok"}`}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	var seen []string
	rt := roundTripper(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.Path+" "+r.Header.Get("User-Agent"))
		return http.DefaultTransport.RoundTrip(r)
	})
	hc := &http.Client{Timeout: time.Second}
	c := client.New(srv.URL, "", client.WithHTTPClient(hc), client.WithTransport(rt), client.WithUserAgent("ua/1"))
	if err := c.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"/healthz ua/1"}) || hc.Transport != nil {
		t.Errorf("through the transport: %v; the given client's transport %v", seen, hc.Transport)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Task's members are the server's task.Task's, by JSON name.
func TestTaskIsTheServers(t *testing.T) {
	names := func(v any) []string {
		var out []string
		for f := range reflect.TypeOf(v).Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "-" {
				out = append(out, name)
			}
		}
		sort.Strings(out)
		return out
	}
	if got, want := names(client.Task{}), names(task.Task{}); !slices.Equal(got, want) {
		t.Errorf("client.Task has %v, the server's task.Task %v", got, want)
	}
	// The query the client builds is one url.Values can parse back.
	if _, err := url.ParseQuery(client.ListQuery{Q: "a;b%"}.Values().Encode()); err != nil {
		t.Error(err)
	}
}

package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// memStore is an in-memory TaskStore for fuzzing the HTTP layer fast; the
// other tests use PostgreSQL. It has no internal routes' store: calling one
// panics (the server answers 500).
type memStore struct {
	api.InternalStore
	mu    sync.Mutex
	tasks map[int64]task.Task
	next  int64
}

func (m *memStore) CreateTask(_ context.Context, user string, p task.Patch) (task.Task, error) {
	t, err := p.Apply(task.Defaults())
	if err != nil {
		return t, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	t.ID, t.UserID, t.Version = m.next, user, 1
	m.tasks[t.ID] = t
	return t, nil
}

func (m *memStore) get(user string, id int64) (task.Task, error) {
	t, ok := m.tasks[id]
	if !ok || t.UserID != user {
		return t, task.ErrNotFound
	}
	return t, nil
}

func (m *memStore) GetTask(_ context.Context, user string, id int64) (task.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(user, id)
}

func (m *memStore) ListTasks(_ context.Context, user string, q task.ListQuery) ([]task.Task, string, error) {
	return nil, "", nil
}

func (m *memStore) UpdateTask(_ context.Context, user string, id int64, p task.Patch) (task.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.get(user, id)
	if err != nil {
		return t, err
	}
	return p.Apply(t)
}

func (m *memStore) CompleteTask(ctx context.Context, user string, id int64) (task.Task, error) {
	return m.GetTask(ctx, user, id)
}

func (m *memStore) ReopenTask(ctx context.Context, user string, id int64) (task.Task, error) {
	return m.GetTask(ctx, user, id)
}

func (m *memStore) SkipTask(ctx context.Context, user string, id int64) (task.Task, error) {
	return m.GetTask(ctx, user, id)
}

func (m *memStore) DeleteTask(ctx context.Context, user string, id int64) error {
	_, err := m.GetTask(ctx, user, id)
	return err
}

func (m *memStore) Ping(context.Context) error { return nil }

func fuzzServer(t testing.TB) (http.Handler, string) {
	v, err := auth.NewVerifier(jwtCfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(jwtCfg, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{tasks: map[int64]task.Task{}}
	if _, err := st.CreateTask(context.Background(), "alice", task.Patch{Title: task.Some("seed")}); err != nil {
		t.Fatal(err)
	}
	h := api.New(st, v, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), api.Config{}).PublicHandler()
	return h, tok
}

// No request body may panic or get a 5xx, on create or update.
func FuzzTaskBody(f *testing.F) {
	for _, s := range []string{
		`{"title":"Buy milk","priority":"high","tags":["a","b"],"due_at":"2026-01-31T09:00:00+01:00","recurrence":"monthly","timezone":"Europe/Berlin"}`,
		`{"title":null}`, `{"title":"x","due_at":null,"reminder_at":"2026-13-01T00:00:00Z"}`, `{"tags":[null]}`,
		`{"title":"x","title":"y"}`, `{"title":"\u0000"}`, `[]`, `"x"`, `{"title":1e999}`, `{`, ``,
		`{"timezone":"../../etc/passwd"}`, `{"priority":{}}`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	h, tok := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body string, create bool) {
		method, path := http.MethodPost, "/api/tasks"
		if !create {
			method, path = http.MethodPatch, "/api/tasks/1"
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("%d without a JSON error body: %s", rec.Code, rec.Body)
		}
	})
}

// No query string may panic or get a 5xx on the list route; this covers
// cursor decoding as well.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"status=open&priority=high&tag=home&q=milk&due_before=2026-01-01T00:00:00Z&sort=due_at&order=desc&limit=10",
		"cursor=eyJzIjoiY3JlYXRlZF9hdCIsInYiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsImkiOjF9",
		"limit=-1", "limit=99999999999999999999", "sort=title&cursor=%ff", "q=%25_%5C", "due_after=+infinity",
		"limit=%zz", "q=a%00", "tag=%ff", "limit=5;status=open",
	} {
		f.Add(s)
	}
	h, tok := fuzzServer(f)
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/api/tasks", nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET /api/tasks?%s: %d %s", query, rec.Code, rec.Body)
		}
		// A query string that does not decode is refused, not half read.
		if _, err := url.ParseQuery(query); err != nil && rec.Code != http.StatusBadRequest {
			t.Fatalf("GET /api/tasks?%s (%v): %d, want 400", query, err, rec.Code)
		}
	})
}

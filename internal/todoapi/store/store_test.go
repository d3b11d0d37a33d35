package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

type outboxRow struct {
	ID        string
	EventType string
	Key       string
	Topic     string
	Data      events.TaskEvent
	CEID      string
}

// recorded returns the events in the outbox, in the order they are to be
// published. No relay runs in these tests: every row is pending.
func recorded(t *testing.T, pool *pgxpool.Pool) []outboxRow {
	t.Helper()
	msgs, err := outbox.Pending(context.Background(), pool, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []outboxRow
	for _, m := range msgs {
		var ce struct {
			ID   string           `json:"id"`
			Data events.TaskEvent `json:"data"`
		}
		if err := json.Unmarshal(m.CloudEvent, &ce); err != nil {
			t.Fatal(err)
		}
		out = append(out, outboxRow{ID: m.ID, EventType: m.Type, Key: m.Key, Topic: m.Topic, Data: ce.Data, CEID: ce.ID})
	}
	return out
}

func TestEveryChangeWritesItsEvent(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)

	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("Buy groceries"), Recurrence: task.Some(task.RecurrenceDaily)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTask(ctx, "alice", tk.ID, task.Patch{Title: task.Some("Buy more groceries")}); err != nil {
		t.Fatal(err)
	}
	// A patch that changes nothing records nothing.
	if _, err := s.UpdateTask(ctx, "alice", tk.ID, task.Patch{Title: task.Some("Buy more groceries")}); err != nil {
		t.Fatal(err)
	}
	done, err := s.CompleteTask(ctx, "alice", tk.ID)
	if err != nil || !done.Completed || done.CompletedAt == nil {
		t.Fatalf("complete: %+v, %v", done, err)
	}
	if _, err := s.CompleteTask(ctx, "alice", tk.ID); err != nil { // no-op
		t.Fatal(err)
	}
	open, err := s.ReopenTask(ctx, "alice", tk.ID)
	if err != nil || open.Completed || open.CompletedAt != nil {
		t.Fatalf("reopen: %+v, %v", open, err)
	}
	if err := s.DeleteTask(ctx, "alice", tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTask(ctx, "alice", tk.ID); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}

	rows := recorded(t, pool)
	want := []string{events.TaskCreated, events.TaskUpdated, events.TaskCompleted, events.TaskUpdated, events.TaskDeleted}
	if len(rows) != len(want) {
		t.Fatalf("outbox has %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, r := range rows {
		if r.EventType != want[i] || r.Data.EventType != want[i] {
			t.Errorf("row %d: type %s/%s, want %s", i, r.EventType, r.Data.EventType, want[i])
		}
		if r.CEID != r.ID {
			t.Errorf("row %d: CloudEvent id %s != outbox id %s", i, r.CEID, r.ID)
		}
		if r.Key != fmt.Sprint(tk.ID) || r.Topic != events.TopicTaskEvents || r.Data.TaskID != tk.ID || r.Data.UserID != "alice" {
			t.Errorf("row %d: key %s, data %+v", i, r.Key, r.Data)
		}
	}
	if rows[2].Data.Recurrence != "daily" || !rows[2].Data.Completed {
		t.Errorf("TaskCompleted data = %+v, want recurrence daily and completed", rows[2].Data)
	}
	if rows[1].Data.Title != "Buy more groceries" {
		t.Errorf("TaskUpdated carries title %q", rows[1].Data.Title)
	}
}

func TestFailedChangeWritesNoEvent(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("a")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTask(ctx, "alice", tk.ID, task.Patch{Title: task.Some(" ")}); !task.IsValidationError(err) {
		t.Fatalf("empty title: %v", err)
	}
	if _, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("")}); !task.IsValidationError(err) {
		t.Fatalf("create empty title: %v", err)
	}
	if n := len(recorded(t, pool)); n != 1 {
		t.Errorf("outbox has %d rows, want only TaskCreated", n)
	}
}

func TestOtherUsersTasksAreInvisible(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("secret")})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"get": func() error { _, err := s.GetTask(ctx, "bob", tk.ID); return err },
		"update": func() error {
			_, err := s.UpdateTask(ctx, "bob", tk.ID, task.Patch{Title: task.Some("mine")})
			return err
		},
		"complete": func() error { _, err := s.CompleteTask(ctx, "bob", tk.ID); return err },
		"reopen":   func() error { _, err := s.ReopenTask(ctx, "bob", tk.ID); return err },
		"delete":   func() error { return s.DeleteTask(ctx, "bob", tk.ID) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("%s as bob: %v, want ErrNotFound", name, err)
		}
	}
	list, _, err := s.ListTasks(ctx, "bob", task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 50})
	if err != nil || len(list) != 0 {
		t.Errorf("bob lists %d tasks, %v", len(list), err)
	}
	got, err := s.GetTask(ctx, "alice", tk.ID)
	if err != nil || got.Title != "secret" {
		t.Errorf("alice's task changed: %+v, %v", got, err)
	}
}

func TestListFiltersSortsAndPages(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	base := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	at := func(d int) *time.Time { t := base.AddDate(0, 0, d); return &t }
	specs := []task.Patch{
		{Title: task.Some("Buy milk"), Priority: task.Some(task.PriorityHigh), Tags: task.Some([]string{"home"}), DueAt: task.Some(at(3))},
		{Title: task.Some("Call mom"), Priority: task.Some(task.PriorityLow), Description: task.Some("about the 50% discount"), DueAt: task.Some(at(1))},
		{Title: task.Some("Answer mail"), Priority: task.Some(task.PriorityMedium), Tags: task.Some([]string{"work", "home"})},
		{Title: task.Some("Deploy"), Priority: task.Some(task.PriorityHigh), Tags: task.Some([]string{"work"}), DueAt: task.Some(at(2))},
		{Title: task.Some("buy bread"), DueAt: task.Some(at(5))},
	}
	ids := map[string]int64{}
	for _, p := range specs {
		tk, err := s.CreateTask(ctx, "alice", p)
		if err != nil {
			t.Fatal(err)
		}
		ids[tk.Title] = tk.ID
	}
	if _, err := s.CompleteTask(ctx, "alice", ids["Deploy"]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTask(ctx, "bob", task.Patch{Title: task.Some("Buy milk for bob")}); err != nil {
		t.Fatal(err)
	}

	titles := func(list []task.Task) string {
		var out []string
		for _, tk := range list {
			out = append(out, tk.Title)
		}
		return strings.Join(out, "|")
	}
	pr := func(p task.Priority) *task.Priority { return &p }
	q := func(mod func(*task.ListQuery)) task.ListQuery {
		lq := task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: 50}
		mod(&lq)
		return lq
	}
	tests := []struct {
		name  string
		query task.ListQuery
		want  string
	}{
		{"all by creation", q(func(*task.ListQuery) {}), "Buy milk|Call mom|Answer mail|Deploy|buy bread"},
		{"newest first", q(func(l *task.ListQuery) { l.Desc = true }), "buy bread|Deploy|Answer mail|Call mom|Buy milk"},
		{"open", q(func(l *task.ListQuery) { l.Status = task.StatusOpen }), "Buy milk|Call mom|Answer mail|buy bread"},
		{"completed", q(func(l *task.ListQuery) { l.Status = task.StatusCompleted }), "Deploy"},
		{"priority high", q(func(l *task.ListQuery) { l.Priority = pr(task.PriorityHigh) }), "Buy milk|Deploy"},
		{"tag home", q(func(l *task.ListQuery) { l.Tag = "home" }), "Buy milk|Answer mail"},
		{"search is case-insensitive substring", q(func(l *task.ListQuery) { l.Q = "BUY" }), "Buy milk|buy bread"},
		{"search in description", q(func(l *task.ListQuery) { l.Q = "discount" }), "Call mom"},
		{"search % is literal", q(func(l *task.ListQuery) { l.Q = "50%" }), "Call mom"},
		{"search _ is literal", q(func(l *task.ListQuery) { l.Q = "b_y" }), ""},
		{"due before", q(func(l *task.ListQuery) { l.DueBefore = at(3) }), "Call mom|Deploy"},
		{"due after", q(func(l *task.ListQuery) { l.DueAfter = at(2) }), "Buy milk|buy bread"},
		{"sort due, no due date last", q(func(l *task.ListQuery) { l.Sort = task.SortDueAt }), "Call mom|Deploy|Buy milk|buy bread|Answer mail"},
		{"sort priority desc", q(func(l *task.ListQuery) { l.Sort = task.SortPriority; l.Desc = true }), "Deploy|Buy milk|Answer mail|Call mom|buy bread"},
		{"sort title", q(func(l *task.ListQuery) {
			l.Sort = task.SortTitle
			l.Status = task.StatusOpen
			l.Priority = pr(task.PriorityHigh)
		}), "Buy milk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, next, err := s.ListTasks(ctx, "alice", tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := titles(list); got != tt.want {
				t.Errorf("got %s\nwant %s", got, tt.want)
			}
			if next != "" {
				t.Errorf("next cursor %q on a short list", next)
			}
		})
	}

	// Paging through every sort order, two at a time, yields the same
	// sequence as one big page, without repeats or gaps.
	for _, sort := range []string{task.SortCreatedAt, task.SortDueAt, task.SortPriority, task.SortTitle} {
		for _, desc := range []bool{false, true} {
			all, _, err := s.ListTasks(ctx, "alice", q(func(l *task.ListQuery) { l.Sort, l.Desc = sort, desc }))
			if err != nil {
				t.Fatal(err)
			}
			var paged []task.Task
			var cursor *task.Cursor
			for page := 0; ; page++ {
				if page > 5 {
					t.Fatalf("%s desc=%v: paging does not end", sort, desc)
				}
				list, next, err := s.ListTasks(ctx, "alice", q(func(l *task.ListQuery) { l.Sort, l.Desc, l.Limit, l.After = sort, desc, 2, cursor }))
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, list...)
				if next == "" {
					break
				}
				c, err := task.DecodeCursor(next, sort, desc)
				if err != nil {
					t.Fatal(err)
				}
				cursor = &c
			}
			if titles(paged) != titles(all) {
				t.Errorf("%s desc=%v: paged %s, want %s", sort, desc, titles(paged), titles(all))
			}
		}
	}
}

// The list queries are served by the indexes of the migration, not by
// scanning the table.
func TestListUsesIndexes(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `INSERT INTO tasks (user_id, title, description, priority, tags, due_at, created_at, updated_at)
		SELECT 'user' || (i % 500), 'task ' || i, 'about ' || md5(i::text), i % 4,
		       ARRAY['t' || (i % 50)], now() + (i || ' minutes')::interval, now(), now()
		FROM generate_series(1, 50000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE tasks`); err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{
		"created_at": `SELECT id FROM tasks WHERE user_id = 'user7' AND deleted_at IS NULL ORDER BY created_at, id LIMIT 51`,
		"due_at":     `SELECT id FROM tasks WHERE user_id = 'user7' AND deleted_at IS NULL AND (COALESCE(due_at, 'infinity'::timestamptz), id) > (now(), 5) ORDER BY COALESCE(due_at, 'infinity'::timestamptz), id LIMIT 51`,
		"priority":   `SELECT id FROM tasks WHERE user_id = 'user7' AND deleted_at IS NULL ORDER BY priority DESC, id DESC LIMIT 51`,
		"title":      `SELECT id FROM tasks WHERE user_id = 'user7' AND deleted_at IS NULL ORDER BY title, id LIMIT 51`,
		"tag":        `SELECT id FROM tasks WHERE user_id = 'user7' AND deleted_at IS NULL AND tags @> ARRAY['t7']::text[] ORDER BY created_at, id LIMIT 51`,
		"search":     `SELECT id FROM tasks WHERE user_id = 'user7' AND deleted_at IS NULL AND (title || ' ' || description) ILIKE '%task 4242%' ORDER BY created_at, id LIMIT 51`,
	}
	for name, sql := range queries {
		var plan []byte
		if err := pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+sql).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(plan), `"Seq Scan"`) {
			t.Errorf("%s: sequential scan:\n%s", name, plan)
		}
	}
}

// Every committed change wakes the relay: the outbox trigger sends one
// NOTIFY on outbox.Channel per transaction, and none for a change that
// fails.
func TestCommittedChangeNotifiesTheRelay(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+outbox.Channel); err != nil {
		t.Fatal(err)
	}
	notified := func() bool {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		n, err := conn.Conn().WaitForNotification(wctx)
		if err != nil {
			if wctx.Err() != nil {
				return false
			}
			t.Fatal(err)
		}
		if n.Channel != outbox.Channel {
			t.Fatalf("notification on %q, want %q", n.Channel, outbox.Channel)
		}
		return true
	}

	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("wake the relay")})
	if err != nil {
		t.Fatal(err)
	}
	if !notified() {
		t.Fatal("no notification after a task was created")
	}
	if _, err := s.CompleteTask(ctx, "alice", tk.ID); err != nil {
		t.Fatal(err)
	}
	if !notified() {
		t.Fatal("no notification after a task was completed")
	}
	// A change that fails writes no event and sends no notification.
	if _, err := s.CompleteTask(ctx, "bob", tk.ID); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("completing another user's task: %v, want ErrNotFound", err)
	}
	if notified() {
		t.Fatal("a notification without a committed change")
	}
}

// The create and the update build their event before the row is written
// (one round trip): each event must be the row as stored, for any content.
func TestEventsAreTheRowsAsStored(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	at := func(v string) *time.Time {
		tm, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	patches := []struct {
		name string
		p    task.Patch
	}{
		{"title only", task.Patch{Title: task.Some("only a title")}},
		{"nanoseconds and an offset", task.Patch{Title: task.Some("ns"), DueAt: task.Some(at("2031-03-30T01:30:00.123456789+02:00")),
			ReminderAt: task.Some(at("2031-03-29T23:00:00.999999999Z")), Recurrence: task.Some(task.RecurrenceDaily), Timezone: task.Some("Europe/Berlin")}},
		{"everything", task.Patch{Title: task.Some("Ünïcødé ✓ 日本"), Description: task.Some("multi\nline \"quoted\" <b>"),
			Priority: task.Some(task.PriorityHigh), Tags: task.Some([]string{"b", "a", "ß"}), DueAt: task.Some(at("2030-01-01T09:00:00Z")),
			Recurrence: task.Some(task.RecurrenceWeekly), Timezone: task.Some("America/New_York")}},
		{"empty tags", task.Patch{Title: task.Some("no tags"), Tags: task.Some([]string{})}},
	}
	asJSON := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tt := range patches {
		t.Run(tt.name, func(t *testing.T) {
			before := len(recorded(t, pool))
			tk, err := s.CreateTask(ctx, "alice", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			later := *at("2032-02-29T12:00:00.000000999Z")
			steps := []func() (task.Task, error){
				func() (task.Task, error) { return tk, nil },
				func() (task.Task, error) {
					return s.UpdateTask(ctx, "alice", tk.ID, task.Patch{Title: task.Some(tt.name + " (edited)"), DueAt: task.Some(&later)})
				},
				func() (task.Task, error) { return s.CompleteTask(ctx, "alice", tk.ID) },
				func() (task.Task, error) { return s.ReopenTask(ctx, "alice", tk.ID) },
			}
			for i, step := range steps {
				got, err := step()
				if err != nil {
					t.Fatal(err)
				}
				stored, err := s.GetTask(ctx, "alice", tk.ID)
				if err != nil {
					t.Fatal(err)
				}
				if asJSON(got) != asJSON(stored) {
					t.Errorf("step %d: answered %s, stored %s", i, asJSON(got), asJSON(stored))
				}
				rows := recorded(t, pool)
				if len(rows) != before+i+1 {
					t.Fatalf("step %d: %d events, want %d", i, len(rows)-before, i+1)
				}
				ev := rows[len(rows)-1].Data
				if want := stored.Event(ev.EventType, ev.Timestamp); asJSON(ev) != asJSON(want) {
					t.Errorf("step %d: event %s\nrow as stored %s", i, asJSON(ev), asJSON(want))
				}
			}
		})
	}
}

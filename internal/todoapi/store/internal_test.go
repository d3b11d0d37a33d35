package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// However often and however concurrently the next occurrence of one
// completed task is asked for, one task is created.
func TestNextOccurrenceIsCreatedOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	prev, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("daily"), Recurrence: task.Some(task.RecurrenceDaily)})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	next := task.Task{Title: "daily", Recurrence: task.RecurrenceDaily, Timezone: "UTC", Tags: []string{}, DueAt: &due, RecurrenceAnchor: &due}

	var wg sync.WaitGroup
	results := make(chan bool, 8)
	ids := make(chan int64, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, created, err := s.CreateNextOccurrence(ctx, "alice", prev.ID, next)
			if err != nil {
				t.Error(err)
				return
			}
			results <- created
			ids <- got.ID
		}()
	}
	wg.Wait()
	close(results)
	close(ids)
	created := 0
	for c := range results {
		if c {
			created++
		}
	}
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if created != 1 || len(seen) != 1 {
		t.Fatalf("created %d times, %d distinct tasks; want 1 and 1", created, len(seen))
	}
	var n, createdEvents int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE previous_id = $1`, prev.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	for _, r := range recorded(t, pool) {
		if r.EventType == events.TaskCreated {
			createdEvents++
		}
	}
	if n != 1 || createdEvents != 2 {
		t.Errorf("%d next tasks and %d TaskCreated events, want 1 and 2", n, createdEvents)
	}
	for id := range seen {
		got, err := s.GetTask(ctx, "alice", id)
		if err != nil || got.SeriesID == nil || *got.SeriesID != prev.ID || !got.DueAt.Equal(due) {
			t.Errorf("next occurrence %+v, %v", got, err)
		}
		// Its event is the row as stored (it is made before the insert).
		for _, r := range recorded(t, pool) {
			if r.Data.TaskID == id {
				want, _ := json.Marshal(got.Event(events.TaskCreated, r.Data.Timestamp))
				have, _ := json.Marshal(r.Data)
				if string(want) != string(have) {
					t.Errorf("next occurrence's event %s, row as stored %s", have, want)
				}
			}
		}
		// The series id carries on down the chain.
		third, _, err := s.CreateNextOccurrence(ctx, "alice", id, next)
		if err != nil || third.SeriesID == nil || *third.SeriesID != prev.ID {
			t.Errorf("third occurrence %+v, %v: want series %d", third, err, prev.ID)
		}
	}
	if _, _, err := s.CreateNextOccurrence(ctx, "mallory", prev.ID, next); !errors.Is(err, task.ErrConflict) {
		t.Errorf("next occurrence for another user's task: %v, want ErrConflict", err)
	}
	if _, _, err := s.CreateNextOccurrence(ctx, "alice", 999999, next); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("next occurrence of a missing task: %v, want ErrNotFound", err)
	}
}

func TestDueRemindersAndMarking(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	clock := useClock(s)
	now := time.Now().UTC().Truncate(time.Microsecond)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	mk := func(title string, at time.Time) task.Task {
		clock.set(past.Add(-time.Minute)) // set before they were due
		defer clock.set(time.Time{})
		tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some(title), ReminderAt: task.Some(&at)})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	due := mk("due", past)
	mk("later", future)
	done := mk("done", past)
	gone := mk("gone", past)
	if _, err := s.CompleteTask(ctx, "alice", done.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTask(ctx, "alice", gone.ID); err != nil {
		t.Fatal(err)
	}
	list, err := s.DueReminders(ctx, now, nil, 10)
	if err != nil || len(list) != 1 || list[0].TaskID != due.ID || !list[0].ReminderAt.Equal(past) || list[0].Title != "due" {
		t.Fatalf("due reminders = %+v, %v; want only %d", list, err, due.ID)
	}
	// Marking another reminder time records that one and leaves this one
	// due; marking this one takes it off the list. A task that does not
	// exist is not recorded.
	if n, err := s.MarkReminded(ctx, []task.Reminder{{TaskID: due.ID, ReminderAt: past.Add(time.Second)}}); err != nil || n != 1 {
		t.Errorf("mark with another reminder time: %v, %v; want 1 recorded", n, err)
	}
	if list, _ := s.DueReminders(ctx, now, nil, 10); len(list) != 1 || list[0].TaskID != due.ID || !list[0].ReminderAt.Equal(past) {
		t.Errorf("after marking another reminder time, due reminders = %+v; want %d at %s", list, due.ID, past)
	}
	if n, err := s.MarkReminded(ctx, []task.Reminder{{TaskID: due.ID, ReminderAt: past}, {TaskID: 999999, ReminderAt: past}}); err != nil || n != 1 {
		t.Fatalf("mark: %v, %v; want 1 marked", n, err)
	}
	if list, _ := s.DueReminders(ctx, now, nil, 10); len(list) != 0 {
		t.Errorf("reminded task still due: %+v", list)
	}
	// A new reminder time arms a new reminder.
	newAt := now.Add(-time.Minute)
	if _, err := s.UpdateTask(ctx, "alice", due.ID, task.Patch{ReminderAt: task.Some(&newAt)}); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.DueReminders(ctx, now, nil, 10); len(list) != 1 || !list[0].ReminderAt.Equal(newAt) {
		t.Errorf("re-armed reminder = %+v", list)
	}
	// Paging by (reminder_at, id).
	for i := range 5 {
		mk("page", past.Add(time.Duration(i)*time.Second))
	}
	var all []task.Reminder
	var after *task.Reminder
	for range 10 {
		page, err := s.DueReminders(ctx, now, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 2 {
			break
		}
		after = &page[len(page)-1]
	}
	if len(all) != 6 {
		t.Errorf("paged through %d due reminders, want 6", len(all))
	}
}

// The reminder sweep's query is served by the schedule's index, not a
// scan of the tasks table.
func TestDueRemindersUseIndex(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	if _, err := pool.Exec(ctx, `INSERT INTO tasks (user_id, title, reminder_at, created_at, updated_at)
		SELECT 'u' || (i % 100), 't', now() - interval '1 day' + (i || ' seconds')::interval, now(), now()
		FROM generate_series(1, 50000) AS i`); err != nil {
		t.Fatal(err)
	}
	// A thousand pending reminders among fifty thousand tasks.
	if _, err := pool.Exec(ctx, `INSERT INTO task_reminder_times (task_id, remind_at)
		SELECT id, reminder_at FROM tasks WHERE id % 50 = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE tasks; ANALYZE task_reminder_times`); err != nil {
		t.Fatal(err)
	}
	var plan string
	if err := pool.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+store.DueRemindersQuery,
		time.Now(), time.Time{}, 0, 200).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "task_reminder_times_due") || seqScans(t, plan)["tasks"] {
		t.Errorf("the due-reminders query does not read the schedule by its index, or scans tasks:\n%s", plan)
	}
}

// seqScans are the tables a JSON plan scans sequentially.
func seqScans(t *testing.T, plan string) map[string]bool {
	t.Helper()
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(plan), &nodes); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if n["Node Type"] == "Seq Scan" {
			out[fmt.Sprint(n["Relation Name"])] = true
		}
		for _, k := range []string{"Plan", "Plans"} {
			switch v := n[k].(type) {
			case map[string]any:
				walk(v)
			case []any:
				for _, c := range v {
					if m, ok := c.(map[string]any); ok {
						walk(m)
					}
				}
			}
		}
	}
	for _, n := range nodes {
		walk(n)
	}
	return out
}

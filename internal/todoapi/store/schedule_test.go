package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

func before(t *testing.T, s string) task.ReminderSpec {
	t.Helper()
	b, err := recurrence.ParseBefore(s)
	if err != nil {
		t.Fatal(err)
	}
	return task.ReminderSpec{Before: &b}
}

// dueAt lists the reminders due at now (and claims them), as task id ->
// reminder times.
func dueAt(t *testing.T, s *store.Store, now time.Time) map[int64][]time.Time {
	t.Helper()
	list, err := s.DueReminders(context.Background(), now, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][]time.Time{}
	for _, r := range list {
		out[r.TaskID] = append(out[r.TaskID], r.ReminderAt)
	}
	return out
}

func sameTimes(a []time.Time, b ...time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// Several reminders of one task: each instant fires once, in order, and
// the task reads its next pending one as reminder_at; day-scale reminders
// are calendar days in the task's zone. The clock is the store's, set by
// the test.
func TestSeveralRemindersFireOnceEach(t *testing.T) {
	ctx := context.Background()
	s := store.New(pgtest.NewPool(t))
	clock := useClock(s)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	set := time.Date(2027, 3, 20, 12, 0, 0, 0, berlin)
	due := time.Date(2027, 3, 28, 9, 0, 0, 0, berlin) // the day after the spring change
	clock.set(set)
	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("flight"), DueAt: task.Some(&due),
		Timezone: task.Some("Europe/Berlin"), Reminders: task.Some([]task.ReminderSpec{
			before(t, "P1D"), before(t, "PT1H"), before(t, "PT0S"), before(t, "PT60M"),
		})})
	if err != nil {
		t.Fatal(err)
	}
	dayBefore := time.Date(2027, 3, 27, 9, 0, 0, 0, berlin) // 24 h earlier would be 08:00
	hourBefore := due.Add(-time.Hour)
	if tk.ReminderAt == nil || !tk.ReminderAt.Equal(dayBefore) {
		t.Fatalf("reminder_at %v, want the first pending, %v", tk.ReminderAt, dayBefore)
	}
	steps := []struct {
		now  time.Time
		want []time.Time
		next *time.Time
	}{
		{dayBefore.Add(-time.Second), nil, &dayBefore},
		{dayBefore, []time.Time{dayBefore}, &hourBefore},
		{due.Add(-30 * time.Minute), []time.Time{hourBefore}, &due},
		{due.Add(time.Hour), []time.Time{due}, nil},
		{due.Add(2 * time.Hour), nil, nil},
	}
	for i, st := range steps {
		clock.set(st.now)
		got := dueAt(t, s, st.now)[tk.ID]
		if !sameTimes(got, st.want...) {
			t.Fatalf("step %d at %v: due %v, want %v", i, st.now.In(berlin), got, st.want)
		}
		var sent []task.Reminder
		for _, at := range got {
			sent = append(sent, task.Reminder{TaskID: tk.ID, ReminderAt: at})
		}
		if len(sent) > 0 {
			if _, err := s.MarkReminded(ctx, sent); err != nil {
				t.Fatal(err)
			}
		}
		cur, err := s.GetTask(ctx, "alice", tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if (cur.ReminderAt == nil) != (st.next == nil) || cur.ReminderAt != nil && !cur.ReminderAt.Equal(*st.next) {
			t.Errorf("step %d: reminder_at %v, want %v", i, cur.ReminderAt, st.next)
		}
		if cur.Version != 1 {
			t.Errorf("step %d: a sent reminder is not a change of the task (version %d)", i, cur.Version)
		}
	}
}

// Edits: moving the due time moves the pending relative reminders; a
// reminder already sent is not sent again because another field changed;
// one removed before its time is never sent; one that had passed when it
// was set is not sent; a closed task's reminders are never sent.
func TestRemindersFollowEdits(t *testing.T) {
	ctx := context.Background()
	s := store.New(pgtest.NewPool(t))
	clock := useClock(s)
	t0 := time.Date(2027, 6, 1, 8, 0, 0, 0, time.UTC)
	clock.set(t0)
	due := t0.Add(2 * time.Hour)
	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("meeting"), DueAt: task.Some(&due),
		Reminders: task.Some([]task.ReminderSpec{before(t, "PT90M"), before(t, "PT15M"), before(t, "P1D")})})
	if err != nil {
		t.Fatal(err)
	}
	// P1D before a due time two hours away had passed when it was set.
	at := t0.Add(30 * time.Minute)
	clock.set(at)
	if got := dueAt(t, s, at)[tk.ID]; !sameTimes(got, due.Add(-90*time.Minute)) {
		t.Fatalf("due at %v: %v, want only the 90-minute one (the day-before one had passed when set)", at, got)
	}
	if _, err := s.MarkReminded(ctx, []task.Reminder{{TaskID: tk.ID, ReminderAt: due.Add(-90 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	// Another field changes: the sent one does not come back.
	if _, err := s.UpdateTask(ctx, "alice", tk.ID, task.Patch{Title: task.Some("meeting!")}); err != nil {
		t.Fatal(err)
	}
	if got := dueAt(t, s, at)[tk.ID]; len(got) != 0 {
		t.Errorf("after a title change: %v due again", got)
	}
	// The due time moves three hours later: the pending 15-minute reminder
	// moves with it.
	newDue := due.Add(3 * time.Hour)
	if _, err := s.UpdateTask(ctx, "alice", tk.ID, task.Patch{DueAt: task.Some(&newDue)}); err != nil {
		t.Fatal(err)
	}
	if got := dueAt(t, s, due.Add(-5*time.Minute))[tk.ID]; len(got) != 0 {
		t.Errorf("the old 15-minute time fired after the move: %v", got)
	}
	// The 90-minute reminder of the new due time is a new one, set while
	// still ahead (11:30, set at 08:30), so it fires too.
	if got := dueAt(t, s, newDue.Add(-14*time.Minute))[tk.ID]; !sameTimes(got, newDue.Add(-90*time.Minute), newDue.Add(-15*time.Minute)) {
		t.Errorf("after the move: %v, want the new 90- and 15-minute times", got)
	}
	// A reminder removed before its time is never sent.
	later := t0.Add(10 * time.Hour)
	tk2, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("removed"), Reminders: task.Some([]task.ReminderSpec{{At: &later}})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTask(ctx, "alice", tk2.ID, task.Patch{Reminders: task.Some([]task.ReminderSpec{})}); err != nil {
		t.Fatal(err)
	}
	if got := dueAt(t, s, later.Add(time.Hour))[tk2.ID]; len(got) != 0 {
		t.Errorf("a removed reminder fired: %v", got)
	}
	// Closed tasks: completed, skipped, deleted.
	daily := "FREQ=DAILY"
	var ids []int64
	for i := range 3 {
		tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("closed"), DueAt: task.Some(&later),
			RRule: task.Some(&daily), Reminders: task.Some([]task.ReminderSpec{before(t, "PT5M")})})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
		switch i {
		case 0:
			_, err = s.CompleteTask(ctx, "alice", tk.ID)
		case 1:
			_, err = s.SkipTask(ctx, "alice", tk.ID)
		default:
			err = s.DeleteTask(ctx, "alice", tk.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	due2 := dueAt(t, s, later.Add(time.Hour))
	for _, id := range ids {
		if len(due2[id]) != 0 {
			t.Errorf("closed task %d has a reminder due: %v", id, due2[id])
		}
	}
}

// Skip closes an occurrence of a repeating task with TaskCompleted and
// skipped; a task that does not repeat cannot be skipped.
func TestSkip(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	due := time.Now().Add(time.Hour).UTC()
	rule := "FREQ=WEEKLY"
	tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("weekly"), DueAt: task.Some(&due), RRule: task.Some(&rule)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SkipTask(ctx, "alice", tk.ID)
	if err != nil || !got.Completed || !got.Skipped || got.CompletedAt == nil {
		t.Fatalf("skip: %+v, %v", got, err)
	}
	rows := recorded(t, pool)
	last := rows[len(rows)-1]
	if data := last.Data; last.EventType != "TaskCompleted" || !data.Skipped || data.RRule == nil || *data.RRule != rule {
		t.Errorf("skip's event: %s %+v", last.EventType, data)
	}
	if again, err := s.SkipTask(ctx, "alice", tk.ID); err != nil || again.Version != got.Version {
		t.Errorf("skipping a closed occurrence changed it: %+v, %v", again, err)
	}
	if reopened, err := s.ReopenTask(ctx, "alice", tk.ID); err != nil || reopened.Skipped || reopened.Completed {
		t.Errorf("reopen: %+v, %v", reopened, err)
	}
	plain, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("once")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SkipTask(ctx, "alice", plain.ID); !errors.Is(err, task.ErrNotRepeating) {
		t.Errorf("skip of a task that does not repeat: %v", err)
	}
}

// The next occurrence's reminders: relative ones from its due time, each
// once; absolute ones as the caller moved them; past ones not scheduled.
func TestNextOccurrenceReminders(t *testing.T) {
	ctx := context.Background()
	s := store.New(pgtest.NewPool(t))
	clock := useClock(s)
	t0 := time.Date(2027, 1, 4, 7, 0, 0, 0, time.UTC)
	clock.set(t0)
	due := t0.Add(2 * time.Hour)
	rule := "FREQ=DAILY;COUNT=3"
	prev, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("standup"), DueAt: task.Some(&due), RRule: task.Some(&rule),
		Reminders: task.Some([]task.ReminderSpec{before(t, "PT10M")})})
	if err != nil {
		t.Fatal(err)
	}
	nextDue := due.AddDate(0, 0, 1)
	abs := nextDue.Add(-time.Hour)
	next, err := task.Patch{Title: task.Some("standup"), DueAt: task.Some(&nextDue), RRule: task.Some(&rule),
		Reminders: task.Some([]task.ReminderSpec{before(t, "PT10M"), {At: &abs}}),
		Series:    task.Some(task.SeriesPlace{Anchor: due, Index: 2})}.Apply(task.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	created, ok, err := s.CreateNextOccurrence(ctx, "alice", prev.ID, next)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if created.SeriesIndex != 2 || created.LastInSeries || created.ReminderAt == nil || !created.ReminderAt.Equal(abs) {
		t.Errorf("next occurrence: index %d last %v reminder_at %v", created.SeriesIndex, created.LastInSeries, created.ReminderAt)
	}
	if got := dueAt(t, s, nextDue)[created.ID]; !sameTimes(got, abs, nextDue.Add(-10*time.Minute)) {
		t.Errorf("its reminders: %v", got)
	}
}

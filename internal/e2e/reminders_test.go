package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
)

// Issue 19: several reminders a task, relative to the due time and
// absolute, on a clock of minutes, through todo-api, reminder-service
// (its cron binding every 2 s), notification-service, their sidecars, the
// broker and PostgreSQL. Each (task, instant) arrives exactly once, never
// before its time; after a due-time edit only the new instants arrive; a
// removed reminder and those of a task completed before them never do.
func TestSeveralRemindersFireOnce(t *testing.T) {
	e := startSystem(t)
	t0 := time.Now().UTC().Truncate(time.Second).Add(10 * time.Second)
	after := func(d time.Duration) time.Time { return t0.Add(d) }
	ptr := func(v time.Time) *time.Time { return &v }

	// 2 and 1 minutes before a due time 2 minutes ahead, and at it.
	three := e.create(client.NewTask{Title: "three before", DueAt: ptr(after(2 * time.Minute)), Timezone: "Europe/Paris",
		Reminders: []client.Reminder{{Before: "PT2M"}, {Before: "PT1M"}, {Before: "PT0S"}}})
	if three.ReminderAt == nil || !three.ReminderAt.Equal(t0) {
		t.Errorf("reminder_at = %s, want the first pending, %s", rfc(three.ReminderAt), rfc(&t0))
	}
	// Due in 2 minutes with reminders 2 and 1 minute before and an
	// absolute one; the due time then moves 30 s later (before the first
	// reminder's time): the relative reminders move with it, the absolute
	// one stays.
	moved := e.create(client.NewTask{Title: "moved", DueAt: ptr(after(2 * time.Minute)),
		Reminders: []client.Reminder{{Before: "PT2M"}, {Before: "PT1M"}, {At: ptr(after(45 * time.Second))}}})
	moved = e.update(moved.ID, client.TaskPatch{DueAt: client.Set(after(2*time.Minute + 30*time.Second))})
	// Two absolute reminders; the first is removed before its time.
	removed := e.create(client.NewTask{Title: "removed", Reminders: []client.Reminder{{At: ptr(after(30 * time.Second))}, {At: ptr(after(time.Minute))}}})
	e.update(removed.ID, client.TaskPatch{Reminders: client.Set([]client.Reminder{{At: ptr(after(time.Minute))}})})
	// Completed, and deleted, before their reminders.
	done := e.create(client.NewTask{Title: "done", DueAt: ptr(after(90 * time.Second)), Reminders: []client.Reminder{{Before: "PT1M"}}})
	e.complete(done.ID)
	gone := e.create(client.NewTask{Title: "gone", Reminders: []client.Reminder{{At: ptr(after(30 * time.Second))}}})
	e.del(gone.ID)
	// Another field changed after a reminder was sent does not send it
	// again: the title of "three before" changes once its first arrived.

	want := map[int64][]time.Time{
		three.ID:   {t0, after(time.Minute), after(2 * time.Minute)},
		moved.ID:   {after(30 * time.Second), after(45 * time.Second), after(90 * time.Second)},
		removed.ID: {after(time.Minute)},
	}
	messages := map[int64][]string{three.ID: {"due in 2 minutes", "due in 1 minute", "due now"}}
	last := after(2 * time.Minute)
	retitled := false
	seen := map[string]time.Time{} // notification id -> when the test first saw it
	for {
		now := time.Now()
		for _, n := range e.inbox() {
			if _, ok := seen[n.ID]; ok {
				continue
			}
			seen[n.ID] = now
			// Never before its time, by the notifier's clock and the test's.
			if n.CreatedAt.Before(n.ReminderAt) || now.Before(n.ReminderAt) {
				t.Errorf("task %d: the reminder for %s arrived at %s (seen %s), before its time", n.TaskID,
					rfc(&n.ReminderAt), rfc(&n.CreatedAt), now.UTC().Format(time.RFC3339Nano))
			}
			if n.TaskID == three.ID && !retitled {
				e.update(three.ID, client.TaskPatch{Title: client.Set("three before (renamed)")})
				retitled = true
			}
		}
		if now.After(last.Add(15 * time.Second)) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	got := map[int64][]time.Time{}
	msgs := map[int64][]string{}
	for _, n := range e.inbox() {
		got[n.TaskID] = append(got[n.TaskID], n.ReminderAt)
		msgs[n.TaskID] = append(msgs[n.TaskID], n.Message)
	}
	for _, ts := range got {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	for _, id := range []int64{three.ID, moved.ID, removed.ID, done.ID, gone.ID} {
		if fmt.Sprint(got[id]) != fmt.Sprint(want[id]) {
			t.Errorf("task %d: reminders arrived for %v, want exactly %v", id, got[id], want[id])
		}
	}
	// The inbox is newest first.
	slices.Reverse(msgs[three.ID])
	if strings.Join(msgs[three.ID], "; ") != strings.Join(messages[three.ID], "; ") {
		t.Errorf("messages %q, want %q", msgs[three.ID], messages[three.ID])
	}
	// Each has gone from the schedule: nothing is pending.
	for _, id := range []int64{three.ID, moved.ID, removed.ID} {
		if tk := e.get(id); tk.ReminderAt != nil {
			t.Errorf("task %d: reminder_at %s after every reminder was sent, want null", id, rfc(tk.ReminderAt))
		}
	}
}

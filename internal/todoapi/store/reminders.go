package store

import (
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// reminderPlan is what a write does to a task's reminder schedule
// (task_reminder_times): the rows it holds afterwards, and the next of
// them, which the task reads as reminder_at.
type reminderPlan struct {
	times  []time.Time
	before []*string
	next   *time.Time
}

// planReminders is the schedule of t after a write at now, given the
// instants its schedule held (pending) and those sent before. A closed
// task has none. Of t's reminder instants, one already in the schedule
// stays; a new one joins unless it was sent already or had passed more
// than task.SetGrace before now (set in the past: not sent).
func planReminders(t task.Task, pending, sent []time.Time, now time.Time) reminderPlan {
	var p reminderPlan
	if t.CompletedAt != nil {
		return p
	}
	has := func(list []time.Time, at time.Time) bool {
		return slices.ContainsFunc(list, func(x time.Time) bool { return x.Equal(at) })
	}
	for _, rt := range task.ReminderTimes(t) {
		if !has(pending, rt.At) && (has(sent, rt.At) || rt.At.Before(now.Add(-task.SetGrace))) {
			continue
		}
		var before *string
		if rt.Before != nil {
			s := rt.Before.String()
			before = &s
		}
		p.times, p.before = append(p.times, rt.At), append(p.before, before)
	}
	if len(p.times) > 0 {
		next := p.times[0] // ReminderTimes is in order
		p.next = &next
	}
	return p
}

// queue adds to b the two statements that make task id's schedule p:
// the rows no longer in it go, the others are written.
func (p reminderPlan) queue(b *pgx.Batch, id int64) {
	times := p.times
	if times == nil {
		times = []time.Time{}
	}
	b.Queue(`DELETE FROM task_reminder_times WHERE task_id = $1 AND NOT (remind_at = ANY($2))`, id, times)
	b.Queue(`INSERT INTO task_reminder_times (task_id, remind_at, before)
		SELECT $1, v.at, v.before FROM unnest($2::timestamptz[], $3::text[]) AS v(at, before)
		ON CONFLICT (task_id, remind_at) DO UPDATE SET before = EXCLUDED.before`, id, times, p.before)
}

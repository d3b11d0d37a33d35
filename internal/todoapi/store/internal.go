package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// CreateNextOccurrence creates the task that follows the completed task
// prevID in its recurring series, with the content of next, and records
// TaskCreated. It creates at most one task per prevID, whatever the number
// of calls (a unique key, not a read-then-write): a repeated call returns
// the task made the first time, with created false.
//
// Two round trips: the previous task's owner and series, then the insert
// and its event as one batch (one transaction), the event written only if
// the insert was (a repeated call writes neither). A repeated call reads
// the existing task in a third.
func (s *Store) CreateNextOccurrence(ctx context.Context, userID string, prevID int64, next task.Task) (task.Task, bool, error) {
	t, err := task.Normalize(next)
	if err != nil {
		return t, false, err
	}
	var owner string
	var seriesID *int64
	err = s.pool.QueryRow(ctx, `SELECT user_id, series_id FROM tasks WHERE id = $1`, prevID).Scan(&owner, &seriesID)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, task.ErrNotFound
	}
	if err != nil {
		return t, false, fmt.Errorf("store: read previous task: %w", err)
	}
	if owner != userID {
		return t, false, fmt.Errorf("%w: task %d does not belong to user %q", task.ErrConflict, prevID, userID)
	}
	series := prevID
	if seriesID != nil {
		series = *seriesID
	}
	id, err := s.nextID(ctx)
	if err != nil {
		return t, false, err
	}
	now := s.clock()
	t.ID, t.UserID, t.SeriesID, t.CreatedAt, t.UpdatedAt, t.Version = id, userID, &series, now, now, 1
	t.Completed, t.CompletedAt, t.Skipped = false, nil, false
	if t.Tags == nil {
		t.Tags = []string{}
	}
	sched := planReminders(t, nil, nil, now)
	t.ReminderAt = sched.next
	reminders, err := json.Marshal(t.Reminders)
	if err != nil {
		return t, false, fmt.Errorf("store: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tasks (id, user_id, title, description, priority, tags, due_at,
		reminder_at, recurrence, timezone, recurrence_anchor, series_id, previous_id, created_at, updated_at,
		rrule, repeat_from, series_index, last_in_series, reminders)
		OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17, $18, $19)
		ON CONFLICT (previous_id) DO NOTHING
		RETURNING `+taskColumns,
		id, userID, t.Title, t.Description, int16(t.Priority), t.Tags, t.DueAt, t.ReminderAt,
		string(t.Recurrence), t.Timezone, t.RecurrenceAnchor, series, prevID, now,
		t.RRule, string(t.RepeatFrom), t.SeriesIndex, t.LastInSeries, reminders)
	// The schedule only if the task was inserted (a repeated call's
	// would belong to no task: the foreign key would refuse it).
	times := sched.times
	if times == nil {
		times = []time.Time{}
	}
	b.Queue(`INSERT INTO task_reminder_times (task_id, remind_at, before)
		SELECT $1, v.at, v.before FROM unnest($2::timestamptz[], $3::text[]) AS v(at, before)
		WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $1)
		ON CONFLICT (task_id, remind_at) DO NOTHING`, id, times, sched.before)
	if err := outbox.QueueIf(ctx, b, outbox.Event{
		Topic: events.TopicTaskEvents, Type: events.TaskCreated, TaskID: id, Time: now, Data: t.Event(events.TaskCreated, now),
	}, `EXISTS (SELECT 1 FROM tasks WHERE id = $6)`, id); err != nil {
		return t, false, fmt.Errorf("store: %w", err)
	}
	out, err := taskAndEvent(s.pool.SendBatch(ctx, b), 0, 2)
	created := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil // already created by an earlier delivery
	}
	if err != nil {
		return out, false, fmt.Errorf("store: insert next occurrence: %w", err)
	}
	if !created {
		out, err = scanTask(s.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE previous_id = $1`, prevID))
		if err != nil {
			return out, false, fmt.Errorf("store: read existing next occurrence: %w", err)
		}
	}
	return out, created, nil
}

// DueRemindersQuery is the reminder sweep's query ($1 now, $2/$3 the
// position after which to read, $4 the page size). It reads two sources in
// (reminder_at, id) order: the schedule's instants that are due, of open,
// undeleted tasks, not recorded sent (served by task_reminder_times_due:
// the schedule holds only pending instants of open tasks), and reminders
// claimed by an earlier listing and not yet marked sent, whatever their
// task has become since (served by task_reminders_unsent). It claims what
// it returns, in the same statement. Tests and the benchmark check its
// plan.
const DueRemindersQuery = `WITH page AS (
	(SELECT t.id, t.user_id, t.title, t.due_at, rt.remind_at AS reminder_at, rt.before, t.timezone
	FROM task_reminder_times rt JOIN tasks t ON t.id = rt.task_id
	WHERE rt.remind_at <= $1 AND t.completed_at IS NULL AND t.deleted_at IS NULL
	  AND (rt.remind_at, rt.task_id) > ($2, $3)
	  AND NOT EXISTS (SELECT 1 FROM task_reminders r
	      WHERE r.task_id = rt.task_id AND r.reminder_at = rt.remind_at AND r.sent_at IS NOT NULL)
	ORDER BY rt.remind_at, rt.task_id LIMIT $4)
	UNION
	(SELECT t.id, t.user_id, t.title, t.due_at, r.reminder_at, rt.before, t.timezone
	FROM task_reminders r JOIN tasks t ON t.id = r.task_id
	LEFT JOIN task_reminder_times rt ON rt.task_id = r.task_id AND rt.remind_at = r.reminder_at
	WHERE r.sent_at IS NULL AND r.reminder_at <= $1 AND (r.reminder_at, r.task_id) > ($2, $3)
	ORDER BY r.reminder_at, r.task_id LIMIT $4)
	ORDER BY reminder_at, id LIMIT $4
), claim AS (
	INSERT INTO task_reminders (task_id, reminder_at) SELECT id, reminder_at FROM page
	ON CONFLICT (task_id, reminder_at) DO NOTHING
)
SELECT id, user_id, title, due_at, reminder_at, before, timezone FROM page ORDER BY reminder_at, id`

// DueReminders returns up to limit reminders due at `now`, oldest first,
// after the (reminder_at, id) position `after` (nil for the start), and
// claims them: from then on each is owed, and listed again until
// MarkReminded records it sent, even if its task is completed, deleted or
// its reminders changed meanwhile (the sweep may have published it and
// died before the mark; publishing the same event id again is harmless).
// A reminder not claimed yet is listed only for an open, undeleted task,
// and never once it is recorded sent. Each (task, reminder time) is one
// reminder, however many of the task's reminders come to that time.
func (s *Store) DueReminders(ctx context.Context, now time.Time, after *task.Reminder, limit int) ([]task.Reminder, error) {
	afterAt, afterID := time.Time{}, int64(0)
	if after != nil {
		afterAt, afterID = after.ReminderAt, after.TaskID
	}
	rows, err := s.pool.Query(ctx, DueRemindersQuery, now, afterAt, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: due reminders: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (task.Reminder, error) {
		var d task.Reminder
		err := r.Scan(&d.TaskID, &d.UserID, &d.Title, &d.DueAt, &d.ReminderAt, &d.Before, &d.Timezone)
		utcPtr(&d.DueAt)
		d.ReminderAt = d.ReminderAt.UTC()
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: due reminders: %w", err)
	}
	return list, nil
}

// MarkReminded records that the reminders of the given (task, reminder_at)
// pairs were sent (their publish was accepted), whatever the task's state
// now: completed, deleted, or its reminders changed. It returns how many
// were recorded (all but those of tasks that do not exist). A recorded
// (task, reminder_at) is never listed as due again. It takes each from its
// task's schedule, and the task's reminder_at moves on to the next pending
// one (or none). It is not a change of the task: no event, no new version.
// One round trip, one transaction.
func (s *Store) MarkReminded(ctx context.Context, sent []task.Reminder) (int, error) {
	ids := make([]int64, len(sent))
	ats := make([]time.Time, len(sent))
	for i, r := range sent {
		ids[i], ats[i] = r.TaskID, r.ReminderAt
	}
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	// The tasks first, in id order, as a change of a task locks its row
	// before its schedule: no two transactions wait on each other.
	b.Queue(`SELECT count(*) FROM (SELECT id FROM tasks WHERE id = ANY($1) ORDER BY id FOR UPDATE) locked`, ids)
	b.Queue(`WITH v AS (
		SELECT DISTINCT v.id, v.at FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, at) JOIN tasks t ON t.id = v.id
		ORDER BY v.at, v.id
	), rec AS (
		INSERT INTO task_reminders (task_id, reminder_at, claimed_at, sent_at) SELECT id, at, $3, $3 FROM v
		ON CONFLICT (task_id, reminder_at) DO UPDATE SET sent_at = EXCLUDED.sent_at WHERE task_reminders.sent_at IS NULL
	), done AS (
		DELETE FROM task_reminder_times rt USING v WHERE rt.task_id = v.id AND rt.remind_at = v.at
	)
	SELECT count(*) FROM v`, ids, ats, s.clock())
	// The next pending reminder, once the schedule has lost the sent ones.
	b.Queue(`UPDATE tasks t SET reminder_at = (SELECT min(remind_at) FROM task_reminder_times rt WHERE rt.task_id = t.id)
		WHERE t.id = ANY($1) AND t.reminder_at IS DISTINCT FROM
		      (SELECT min(remind_at) FROM task_reminder_times rt WHERE rt.task_id = t.id)`, ids)
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var n, locked int
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&locked)
	}
	if err == nil {
		err = br.QueryRow().Scan(&n)
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("store: mark reminded: %w", err)
	}
	return n, nil
}

// ReleaseReminders gives back the claims of the given (task, reminder_at)
// pairs that are not recorded sent: their publish was refused, so they were
// certainly not sent. A released reminder is listed again only from its
// task's schedule (open, undeleted, the reminder still set), never from the
// claim. It returns how many claims were released.
func (s *Store) ReleaseReminders(ctx context.Context, notSent []task.Reminder) (int, error) {
	ids := make([]int64, len(notSent))
	ats := make([]time.Time, len(notSent))
	for i, r := range notSent {
		ids[i], ats[i] = r.TaskID, r.ReminderAt
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM task_reminders r USING unnest($1::bigint[], $2::timestamptz[]) AS v(id, at)
		WHERE r.task_id = v.id AND r.reminder_at = v.at AND r.sent_at IS NULL`, ids, ats)
	if err != nil {
		return 0, fmt.Errorf("store: release reminders: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// OwnsTask reports whether userID owns task id, deleted or not (a deleted
// task's history stays readable by its owner).
func (s *Store) OwnsTask(ctx context.Context, userID string, id int64) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND user_id = $2)`, id, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("store: owns task: %w", err)
	}
	return ok, nil
}

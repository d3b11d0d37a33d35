package store

import (
	"context"
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
	t.Completed, t.CompletedAt = false, nil
	if t.Tags == nil {
		t.Tags = []string{}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tasks (id, user_id, title, description, priority, tags, due_at,
		reminder_at, recurrence, timezone, recurrence_anchor, series_id, previous_id, created_at, updated_at)
		OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
		ON CONFLICT (previous_id) DO NOTHING
		RETURNING `+taskColumns,
		id, userID, t.Title, t.Description, int16(t.Priority), t.Tags, t.DueAt, t.ReminderAt,
		string(t.Recurrence), t.Timezone, t.RecurrenceAnchor, series, prevID, now)
	if err := outbox.QueueIf(ctx, b, outbox.Event{
		Topic: events.TopicTaskEvents, Type: events.TaskCreated, TaskID: id, Time: now, Data: t.Event(events.TaskCreated, now),
	}, `EXISTS (SELECT 1 FROM tasks WHERE id = $6)`, id); err != nil {
		return t, false, fmt.Errorf("store: %w", err)
	}
	out, err := taskAndEvent(s.pool.SendBatch(ctx, b))
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
// (reminder_at, id) order: open, undeleted tasks whose reminder is due and
// not recorded sent (served by the partial index tasks_reminder_pending), and
// reminders claimed by an earlier listing and not yet marked sent, whatever
// their task has become since (served by task_reminders_unsent). It claims
// what it returns, in the same statement. Tests and the benchmark check its
// plan.
const DueRemindersQuery = `WITH page AS (
	(SELECT t.id, t.user_id, t.title, t.due_at, t.reminder_at FROM tasks t
	WHERE t.reminder_at <= $1 AND t.reminder_at IS NOT NULL AND t.completed_at IS NULL AND t.deleted_at IS NULL
	  AND t.reminded_for IS DISTINCT FROM t.reminder_at
	  AND (t.reminder_at, t.id) > ($2, $3)
	  AND NOT EXISTS (SELECT 1 FROM task_reminders r
	      WHERE r.task_id = t.id AND r.reminder_at = t.reminder_at AND r.sent_at IS NOT NULL)
	ORDER BY t.reminder_at, t.id LIMIT $4)
	UNION
	(SELECT t.id, t.user_id, t.title, t.due_at, r.reminder_at FROM task_reminders r JOIN tasks t ON t.id = r.task_id
	WHERE r.sent_at IS NULL AND r.reminder_at <= $1 AND (r.reminder_at, r.task_id) > ($2, $3)
	ORDER BY r.reminder_at, r.task_id LIMIT $4)
	ORDER BY reminder_at, id LIMIT $4
), claim AS (
	INSERT INTO task_reminders (task_id, reminder_at) SELECT id, reminder_at FROM page
	ON CONFLICT (task_id, reminder_at) DO NOTHING
)
SELECT id, user_id, title, due_at, reminder_at FROM page ORDER BY reminder_at, id`

// DueReminders returns up to limit reminders due at `now`, oldest first,
// after the (reminder_at, id) position `after` (nil for the start), and
// claims them: from then on each is owed, and listed again until
// MarkReminded records it sent, even if its task is completed, deleted or
// its reminder changed meanwhile (the sweep may have published it and died
// before the mark; publishing the same event id again is harmless). A
// reminder not claimed yet is listed only for an open, undeleted task, and
// never once it is recorded sent.
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
		err := r.Scan(&d.TaskID, &d.UserID, &d.Title, &d.DueAt, &d.ReminderAt)
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
// pairs were sent (their publish was accepted), in one statement, whatever
// the task's state now: completed, deleted, or its reminder moved or
// cleared. It returns how many were recorded (all but those of tasks that do
// not exist). A recorded (task, reminder_at) is never listed as due again.
// Where the task's reminder_at is still the one sent, it also sets
// reminded_for, which takes the task out of the partial index. It is not a
// change of the task: no event, no new version.
func (s *Store) MarkReminded(ctx context.Context, sent []task.Reminder) (int, error) {
	ids := make([]int64, len(sent))
	ats := make([]time.Time, len(sent))
	for i, r := range sent {
		ids[i], ats[i] = r.TaskID, r.ReminderAt
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH v AS (
		SELECT DISTINCT v.id, v.at FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, at) JOIN tasks t ON t.id = v.id
	), rec AS (
		INSERT INTO task_reminders (task_id, reminder_at, claimed_at, sent_at) SELECT id, at, $3, $3 FROM v
		ON CONFLICT (task_id, reminder_at) DO UPDATE SET sent_at = EXCLUDED.sent_at WHERE task_reminders.sent_at IS NULL
	), armed AS (
		UPDATE tasks t SET reminded_for = t.reminder_at FROM v
		WHERE t.id = v.id AND t.reminder_at = v.at AND t.reminded_for IS DISTINCT FROM t.reminder_at
	)
	SELECT count(*) FROM v`, ids, ats, s.clock()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: mark reminded: %w", err)
	}
	return n, nil
}

// ReleaseReminders gives back the claims of the given (task, reminder_at)
// pairs that are not recorded sent: their publish was refused, so they were
// certainly not sent. A released reminder is listed again only from its
// task (open, undeleted, still due at that time), never from the claim.
// It returns how many claims were released.
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

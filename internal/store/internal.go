package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/task"
)

// CreateNextOccurrence creates the task that follows the completed task
// prevID in its recurring series, with the content of next, and records
// TaskCreated. It creates at most one task per prevID, whatever the number
// of calls (a unique key, not a read-then-write): a repeated call returns
// the task made the first time, with created false.
func (s *Store) CreateNextOccurrence(ctx context.Context, userID string, prevID int64, next task.Task) (task.Task, bool, error) {
	t, err := task.Normalize(next)
	if err != nil {
		return t, false, err
	}
	now := s.clock()
	var out task.Task
	created := false
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var owner string
		var seriesID *int64
		err := tx.QueryRow(ctx, `SELECT user_id, series_id FROM tasks WHERE id = $1`, prevID).Scan(&owner, &seriesID)
		if errors.Is(err, pgx.ErrNoRows) {
			return task.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read previous task: %w", err)
		}
		if owner != userID {
			return fmt.Errorf("%w: task %d does not belong to user %q", task.ErrConflict, prevID, userID)
		}
		series := prevID
		if seriesID != nil {
			series = *seriesID
		}
		row := tx.QueryRow(ctx, `INSERT INTO tasks (user_id, title, description, priority, tags, due_at,
			reminder_at, recurrence, timezone, recurrence_anchor, series_id, previous_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
			ON CONFLICT (previous_id) DO NOTHING
			RETURNING `+taskColumns,
			userID, t.Title, t.Description, int16(t.Priority), t.Tags, t.DueAt, t.ReminderAt,
			string(t.Recurrence), t.Timezone, t.RecurrenceAnchor, series, prevID, now)
		out, err = scanTask(row)
		if errors.Is(err, pgx.ErrNoRows) {
			// Already created by an earlier delivery.
			out, err = scanTask(tx.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks WHERE previous_id = $1`, prevID))
			if err != nil {
				return fmt.Errorf("read existing next occurrence: %w", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("insert next occurrence: %w", err)
		}
		created = true
		return writeEvent(ctx, tx, events.TaskCreated, out, now)
	})
	return out, created, err
}

// DueRemindersQuery is the reminder sweep's query ($1 now, $2/$3 the
// position after which to read, $4 the page size). It matches the partial
// index tasks_reminder_pending; tests and the benchmark check its plan.
const DueRemindersQuery = `SELECT id, user_id, title, due_at, reminder_at FROM tasks
	WHERE reminder_at <= $1 AND reminder_at IS NOT NULL AND completed_at IS NULL AND deleted_at IS NULL
	  AND reminded_for IS DISTINCT FROM reminder_at
	  AND (reminder_at, id) > ($2, $3)
	ORDER BY reminder_at, id LIMIT $4`

// DueReminders returns up to limit reminders due at `now`, oldest first,
// after the (reminder_at, id) position `after` (nil for the start). Only open,
// undeleted tasks are returned. The query is served by the partial index
// tasks_reminder_pending.
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
// pairs were sent, in one statement, and returns how many were marked. A
// task whose reminder_at has changed meanwhile is not marked (the new
// reminder stays armed), nor is a task that is gone. It is not a change of
// the task: no event, no new version.
func (s *Store) MarkReminded(ctx context.Context, sent []task.Reminder) (int, error) {
	ids := make([]int64, len(sent))
	ats := make([]time.Time, len(sent))
	for i, r := range sent {
		ids[i], ats[i] = r.TaskID, r.ReminderAt
	}
	tag, err := s.pool.Exec(ctx, `UPDATE tasks t SET reminded_for = t.reminder_at
		FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, at)
		WHERE t.id = v.id AND t.reminder_at = v.at`, ids, ats)
	if err != nil {
		return 0, fmt.Errorf("store: mark reminded: %w", err)
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

-- +goose Up
-- version counts the changes of a task; events carry it so that consumers
-- can order a task's events and recognise stale ones.
ALTER TABLE tasks ADD COLUMN version integer NOT NULL DEFAULT 1;

-- Recurring series: series_id is the id of the series' first task;
-- previous_id is the completed occurrence a task was created from. Its
-- uniqueness makes "one next occurrence per completed occurrence" hold
-- whatever the number of TaskCompleted deliveries or completions.
ALTER TABLE tasks ADD COLUMN series_id bigint;
ALTER TABLE tasks ADD COLUMN previous_id bigint UNIQUE;
-- The due time the series' day of month / day of year comes from (Jan 31
-- stays the 31st after a short month).
ALTER TABLE tasks ADD COLUMN recurrence_anchor timestamptz;

-- The reminder_at value a ReminderDue was sent for. A reminder is due while
-- reminded_for differs from reminder_at, so changing reminder_at arms a new one.
ALTER TABLE tasks ADD COLUMN reminded_for timestamptz;

-- The reminder sweep reads only the tasks whose reminder is pending.
CREATE INDEX tasks_reminder_pending ON tasks (reminder_at, id)
    WHERE reminder_at IS NOT NULL AND completed_at IS NULL AND deleted_at IS NULL
      AND reminded_for IS DISTINCT FROM reminder_at;

-- +goose Down
DROP INDEX tasks_reminder_pending;
ALTER TABLE tasks DROP COLUMN reminded_for, DROP COLUMN recurrence_anchor,
    DROP COLUMN previous_id, DROP COLUMN series_id, DROP COLUMN version;

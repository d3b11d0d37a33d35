-- +goose Up
-- RFC 5545 rules, repeat from completion, skipped occurrences and the end
-- of a series; several reminders per task.
ALTER TABLE tasks
    ADD COLUMN rrule text,
    ADD COLUMN repeat_from text NOT NULL DEFAULT 'due' CHECK (repeat_from IN ('due', 'completion')),
    ADD COLUMN series_index integer NOT NULL DEFAULT 1 CHECK (series_index >= 1),
    ADD COLUMN last_in_series boolean NOT NULL DEFAULT false,
    ADD COLUMN skipped boolean NOT NULL DEFAULT false,
    -- The reminders as the client gave them: [{"before": "PT15M"} | {"at": "<RFC 3339>"}].
    ADD COLUMN reminders jsonb NOT NULL DEFAULT '[]';

-- The schedule: one row per pending (not yet sent) reminder instant of an
-- open task, with the relative reminder it comes from. It is rewritten
-- with each change of its task (an instant that stays keeps its row; a new
-- one that had long passed when set gets none; a sent one never comes
-- back), emptied when the task is completed, skipped or deleted, and a row
-- goes when its reminder is marked sent. So the sweep's index holds only
-- what may still be due. task_reminders stays the record of claims and
-- sends, whatever happens to the task.
CREATE TABLE task_reminder_times (
    task_id   bigint      NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    remind_at timestamptz NOT NULL,
    before    text,
    PRIMARY KEY (task_id, remind_at)
);
CREATE INDEX task_reminder_times_due ON task_reminder_times (remind_at, task_id);

-- Each reminder_at becomes one absolute reminder, and a pending one (an
-- open task's, not sent) its row of the schedule.
UPDATE tasks SET reminders = jsonb_build_array(jsonb_build_object('at',
    to_char(reminder_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
WHERE reminder_at IS NOT NULL;
INSERT INTO task_reminder_times (task_id, remind_at)
SELECT t.id, t.reminder_at FROM tasks t
WHERE t.reminder_at IS NOT NULL AND t.completed_at IS NULL AND t.deleted_at IS NULL
  AND t.reminded_for IS DISTINCT FROM t.reminder_at
  AND NOT EXISTS (SELECT 1 FROM task_reminders r
      WHERE r.task_id = t.id AND r.reminder_at = t.reminder_at AND r.sent_at IS NOT NULL);
-- reminder_at now reads the next pending reminder: none once it was sent.
UPDATE tasks t SET reminder_at = NULL
WHERE t.reminder_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM task_reminder_times rt WHERE rt.task_id = t.id);

-- The schedule replaces the partial index of the one reminder per task.
DROP INDEX tasks_reminder_pending;
ALTER TABLE tasks DROP COLUMN reminded_for;

-- +goose Down
ALTER TABLE tasks ADD COLUMN reminded_for timestamptz;
UPDATE tasks t SET reminder_at = r.reminder_at, reminded_for = r.reminder_at
FROM (SELECT task_id, max(reminder_at) AS reminder_at FROM task_reminders WHERE sent_at IS NOT NULL GROUP BY task_id) r
WHERE t.id = r.task_id AND t.reminder_at IS NULL;
CREATE INDEX tasks_reminder_pending ON tasks (reminder_at, id)
    WHERE reminder_at IS NOT NULL AND completed_at IS NULL AND deleted_at IS NULL
      AND reminded_for IS DISTINCT FROM reminder_at;
DROP TABLE task_reminder_times;
ALTER TABLE tasks DROP COLUMN reminders, DROP COLUMN skipped, DROP COLUMN last_in_series,
    DROP COLUMN series_index, DROP COLUMN repeat_from, DROP COLUMN rrule;

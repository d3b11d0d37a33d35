-- +goose Up
-- The record of reminders, one row per (task, reminder time). A sweep claims
-- the reminders it lists (claimed_at) before it publishes them, and sets
-- sent_at once the broker accepted the publish. Both stay whatever happens
-- to the task afterwards (completed, deleted, reminder moved or cleared):
-- a claimed reminder is listed again until it is marked sent, with the same
-- event id, and a (task, reminder time) marked sent is never listed again.
-- tasks.reminded_for stays the fast filter of the partial index
-- tasks_reminder_pending; this table is the record.
CREATE TABLE task_reminders (
    task_id     bigint      NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    reminder_at timestamptz NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    PRIMARY KEY (task_id, reminder_at)
);
-- The sweep's second source: claimed, not yet marked sent.
CREATE INDEX task_reminders_unsent ON task_reminders (reminder_at, task_id) WHERE sent_at IS NULL;

-- Reminders sent before this migration were recorded in reminded_for only.
INSERT INTO task_reminders (task_id, reminder_at, claimed_at, sent_at)
SELECT id, reminded_for, updated_at, updated_at FROM tasks WHERE reminded_for IS NOT NULL;

-- +goose Down
DROP TABLE task_reminders;

-- +goose Up
-- Every event on task-events, once per CloudEvent id.
CREATE TABLE audit_events (
    event_id    text PRIMARY KEY,
    task_id     bigint      NOT NULL,
    user_id     text        NOT NULL,
    event_type  text        NOT NULL,
    version     integer     NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    data        jsonb       NOT NULL
);
CREATE INDEX audit_events_task ON audit_events (task_id, version, occurred_at);

-- +goose Down
DROP TABLE audit_events;

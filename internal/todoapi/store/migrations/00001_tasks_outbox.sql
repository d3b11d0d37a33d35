-- +goose Up
-- Substring search on title and description (q=) uses a trigram index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text        NOT NULL,
    title        text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    priority     smallint    NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 3),
    tags         text[]      NOT NULL DEFAULT '{}',
    due_at       timestamptz,
    reminder_at  timestamptz,
    recurrence   text        NOT NULL DEFAULT 'none'
                 CHECK (recurrence IN ('none', 'daily', 'weekly', 'monthly', 'yearly')),
    timezone     text        NOT NULL DEFAULT 'UTC',
    completed_at timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    -- Deleted tasks are kept as tombstones so that their owner stays known
    -- (history stays readable) and ids are never reused.
    deleted_at   timestamptz
);

-- One index per sort order of GET /api/tasks, each scoped to the user and
-- ending in id so that keyset pagination is an index range scan.
CREATE INDEX tasks_user_created  ON tasks (user_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_user_due      ON tasks (user_id, (COALESCE(due_at, 'infinity'::timestamptz)), id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_user_priority ON tasks (user_id, priority, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_user_title    ON tasks (user_id, title, id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_tags          ON tasks USING gin (tags) WHERE deleted_at IS NULL;
CREATE INDEX tasks_search        ON tasks USING gin ((title || ' ' || description) gin_trgm_ops) WHERE deleted_at IS NULL;

-- The transactional outbox: every change to tasks writes its event here in
-- the same transaction; the relay publishes rows in seq order through Dapr.
CREATE TABLE outbox (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid        NOT NULL UNIQUE, -- the CloudEvent id
    topic         text        NOT NULL,
    partition_key text        NOT NULL,
    event_type    text        NOT NULL,
    cloudevent    jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    publish_count integer     NOT NULL DEFAULT 0,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE tasks;

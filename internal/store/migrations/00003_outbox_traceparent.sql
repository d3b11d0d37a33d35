-- +goose Up
-- The W3C traceparent of the request that made the change, so that the
-- relay's publish (and every consumer after it) continues that trace.
ALTER TABLE outbox ADD COLUMN traceparent text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox DROP COLUMN traceparent;

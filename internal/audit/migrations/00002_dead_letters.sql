-- +goose Up
-- Events that a subscriber could not handle, as they reached a dead-letter
-- topic, so that they can be listed, inspected and replayed.
CREATE TABLE dead_letters (
    topic       text        NOT NULL,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now(),
    cloudevent  jsonb       NOT NULL,
    PRIMARY KEY (topic, event_id)
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);

-- +goose Down
DROP TABLE dead_letters;

-- +goose Up
-- Every statement that inserts outbox rows wakes the relay (LISTEN
-- todo_outbox, store.OutboxChannel), once per statement, when its
-- transaction commits. Writers no longer send the NOTIFY themselves: one
-- round trip less per change, and no way to forget it.
-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('todo_outbox', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- +goose Down
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();

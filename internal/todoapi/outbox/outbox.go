// Package outbox is todo-api's transactional outbox: the table that every
// change to a task writes its event to, in the change's own transaction, and
// the relay that publishes those rows to the broker through the Dapr
// sidecar.
//
// The package owns the table: every statement on it is here. Add writes a
// row inside the caller's transaction, Queue and QueueIf queue it in the
// caller's batch (one round trip with the change); Pending reads the rows not yet
// published; the Relay publishes them, marks them published and deletes them
// past their retention. The callers decide which change emits which event;
// this package decides how it is stored and published. The table and its
// NOTIFY trigger are created by todo-api's single migration set,
// internal/todoapi/store/migrations (00001_tasks_outbox.sql and
// 00003_outbox_notify_trigger.sql), so that one goose run migrates the tasks
// and the outbox they write to together; a change to the table's schema goes
// there, and to this package.
//
// Guarantees: an event is marked published only after the sidecar accepted
// it (any 2xx), so none is lost; a crash between publish and mark publishes it
// again, so delivery is at-least-once and consumers dedupe on the CloudEvent
// id. Rows are published in seq order by one relay at a time (a PostgreSQL
// advisory lock elects it among todo-api replicas), and a failed row stops
// the batch, so each task's events keep their order.
//
// Robustness: a lost database connection is retried with an exponential
// backoff that starts over once a connection has stayed up for a healthy
// period; a bulk is bounded by bytes as well as by count; and a leader whose
// publishes have failed for a while (its sidecar is down, say) gives up the
// lock for a while, so that a standby with a working sidecar takes over.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Channel is the LISTEN/NOTIFY channel that wakes the relay. A trigger on
// the outbox table (migration 00003) sends the NOTIFY when a transaction
// that added events commits.
const Channel = "todo_outbox"

// Source is the CloudEvents source of the events in todo-api's outbox.
const Source = "todo-api"

// Event is an event to add to the outbox.
type Event struct {
	Topic string // e.g. events.TopicTaskEvents
	Type  string // the event type, e.g. events.TaskCreated
	// TaskID is the task the event is about: the CloudEvent's subject and
	// the partition key. The relay publishes one task's events in the order
	// they were added.
	TaskID int64
	Time   time.Time // when the change happened
	Data   any       // the CloudEvent's data, encoded as JSON
}

// Add writes e to the outbox in tx, as a CloudEvent with a fresh
// (time-ordered) id that carries the trace of ctx. The relay publishes it
// once tx commits, and never if tx rolls back. Callers that must keep one
// task's events in commit order lock the task's row before calling Add.
func Add(ctx context.Context, tx pgx.Tx, e Event) error {
	args, err := row(ctx, e)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertSQL, args...); err != nil {
		return fmt.Errorf("outbox: insert: %w", err)
	}
	return nil
}

// Queue queues the insert of e's row in b, as Add does in a transaction:
// for a batch that writes the change and its event in one round trip (in
// one transaction: a batch is one, implicitly or with Batch.BeginTx).
func Queue(ctx context.Context, b *pgx.Batch, e Event) error {
	args, err := row(ctx, e)
	if err != nil {
		return err
	}
	b.Queue(insertSQL, args...)
	return nil
}

// QueueIf is Queue for a row written only when cond, a boolean SQL
// expression over the parameters $6 on (args), holds when the insert runs:
// for an event whose change, earlier in the same batch, may have been a
// no-op (an INSERT ... ON CONFLICT DO NOTHING).
func QueueIf(ctx context.Context, b *pgx.Batch, e Event, cond string, args ...any) error {
	row, err := row(ctx, e)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO outbox (id, topic, partition_key, event_type, cloudevent)
		SELECT $1::uuid, $2::text, $3::text, $4::text, $5::jsonb WHERE `+cond, append(row, args...)...)
	return nil
}

const insertSQL = `INSERT INTO outbox (id, topic, partition_key, event_type, cloudevent) VALUES ($1, $2, $3, $4, $5)`

// row is e's outbox row: the arguments of insertSQL.
func row(ctx context.Context, e Event) ([]any, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("outbox: event id: %w", err)
	}
	ce, err := events.NewCloudEvent(id.String(), Source, e.Type, e.TaskID, e.Time, e.Data)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	// The event carries the trace of the request that made the change: Dapr
	// keeps a CloudEvent's own traceparent when it publishes (in bulk too),
	// and every consumer continues it.
	if tp := telemetry.Inject(ctx); tp != "" {
		ce.SetExtension("traceparent", tp)
		ce.SetExtension("traceid", tp)
	}
	body, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode event: %w", err)
	}
	return []any{id, e.Topic, strconv.FormatInt(e.TaskID, 10), e.Type, body}, nil
}

// Message is an outbox row waiting to be published.
type Message struct {
	Seq        int64  // the order rows are published in
	ID         string // the CloudEvent id
	Topic      string
	Key        string // the partition key: the task id
	Type       string // the event type
	CloudEvent []byte // the whole CloudEvent, JSON
}

// Querier is a connection, a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Pending returns up to limit rows not yet published, in seq order.
func Pending(ctx context.Context, db Querier, limit int) ([]Message, error) {
	rows, err := db.Query(ctx, `SELECT seq, id::text, topic, partition_key, event_type, cloudevent::text
		FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: read: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (Message, error) {
		var m Message
		var body string
		err := cr.Scan(&m.Seq, &m.ID, &m.Topic, &m.Key, &m.Type, &body)
		m.CloudEvent = []byte(body)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: read: %w", err)
	}
	return list, nil
}

// Package store is todo-api's PostgreSQL storage: the tasks table. Every
// change to a task records its event with outbox.Add in the change's
// transaction; the store decides which change emits which event type.
//
// Its migrations (migrations/) are todo-api's whole schema, the outbox
// table included, whose statements are all in package outbox.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// Store reads and writes tasks. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time

	idMu sync.Mutex
	ids  []int64 // task ids taken from the sequence, not used yet
}

// idBlock is how many task ids one call takes from the sequence: a create
// then needs no round trip of its own to learn its id (see CreateTask). Ids
// taken and not used (the process stops) are skipped, as a sequence's
// CACHE skips them; ids follow the order of creation within one process,
// and only roughly across processes, as with CACHE.
const idBlock = 64

// nextID returns a task id that no other task has or will have.
func (s *Store) nextID(ctx context.Context) (int64, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if len(s.ids) == 0 {
		rows, err := s.pool.Query(ctx, `SELECT nextval(pg_get_serial_sequence('tasks', 'id')) FROM generate_series(1, $1)`, idBlock)
		if err != nil {
			return 0, fmt.Errorf("store: task ids: %w", err)
		}
		if s.ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return 0, fmt.Errorf("store: task ids: %w", err)
		}
		slices.Sort(s.ids)
	}
	id := s.ids[0]
	s.ids = s.ids[1:]
	return id, nil
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

const taskColumns = `id, user_id, title, description, priority, tags, due_at, reminder_at,
	recurrence, timezone, completed_at, created_at, updated_at, version, series_id, recurrence_anchor`

func scanTask(row pgx.Row) (task.Task, error) {
	var t task.Task
	var rec string
	err := row.Scan(&t.ID, &t.UserID, &t.Title, &t.Description, &t.Priority, &t.Tags,
		&t.DueAt, &t.ReminderAt, &rec, &t.Timezone, &t.CompletedAt, &t.CreatedAt, &t.UpdatedAt,
		&t.Version, &t.SeriesID, &t.RecurrenceAnchor)
	if err != nil {
		return t, err
	}
	t.Recurrence = task.Recurrence(rec)
	t.Completed = t.CompletedAt != nil
	if t.Tags == nil {
		t.Tags = []string{}
	}
	utcPtr(&t.DueAt)
	utcPtr(&t.ReminderAt)
	utcPtr(&t.CompletedAt)
	utcPtr(&t.RecurrenceAnchor)
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	return t, nil
}

func utcPtr(p **time.Time) {
	if *p != nil {
		u := (*p).UTC()
		*p = &u
	}
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateTask creates a task for userID from p and records TaskCreated, in
// one round trip: the task's id comes from a block taken from the sequence
// beforehand, so its event is complete before the insert, and the two
// inserts go as one batch (one implicit transaction).
func (s *Store) CreateTask(ctx context.Context, userID string, p task.Patch) (task.Task, error) {
	t, err := p.Apply(task.Defaults())
	if err != nil {
		return t, err
	}
	id, err := s.nextID(ctx)
	if err != nil {
		return t, err
	}
	now := s.clock()
	// What the insert stores: Apply normalised the content (times in UTC
	// at PostgreSQL's microseconds), the rest is the row's defaults.
	t.ID, t.UserID, t.CreatedAt, t.UpdatedAt, t.Version = id, userID, now, now, 1
	if t.Tags == nil {
		t.Tags = []string{}
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tasks (id, user_id, title, description, priority, tags, due_at,
		reminder_at, recurrence, timezone, recurrence_anchor, created_at, updated_at)
		OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
		RETURNING `+taskColumns,
		id, userID, t.Title, t.Description, int16(t.Priority), t.Tags, t.DueAt, t.ReminderAt,
		string(t.Recurrence), t.Timezone, t.RecurrenceAnchor, now)
	if err := queueEvent(ctx, b, events.TaskCreated, t, now); err != nil {
		return t, fmt.Errorf("store: %w", err)
	}
	out, err := taskAndEvent(s.pool.SendBatch(ctx, b))
	if err != nil {
		return out, fmt.Errorf("store: insert task: %w", err)
	}
	return out, nil
}

// taskAndEvent reads the results of a batch of two statements, a task's
// insert or update (RETURNING the row) and its outbox insert, and closes
// it. A statement that affected no row gives pgx.ErrNoRows, once the rest
// of the batch went through.
func taskAndEvent(br pgx.BatchResults) (task.Task, error) {
	t, err := scanTask(br.QueryRow())
	_, eerr := br.Exec()
	cerr := br.Close()
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return t, err
	}
	if eerr != nil {
		return t, eerr
	}
	if cerr != nil {
		return t, cerr
	}
	return t, err
}

// GetTask returns userID's task id, or task.ErrNotFound.
func (s *Store) GetTask(ctx context.Context, userID string, id int64) (task.Task, error) {
	t, err := scanTask(s.pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`, id, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, task.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("store: get task: %w", err)
	}
	return t, nil
}

// UpdateTask applies p to userID's task id and records TaskUpdated. A patch
// that changes nothing records nothing.
func (s *Store) UpdateTask(ctx context.Context, userID string, id int64, p task.Patch) (task.Task, error) {
	return s.mutate(ctx, userID, id, func(t task.Task, now time.Time) (task.Task, string, error) {
		next, err := p.Apply(t)
		if err != nil {
			return t, "", err
		}
		if sameContent(t, next) {
			return t, "", nil
		}
		return next, events.TaskUpdated, nil
	})
}

// CompleteTask marks userID's task id completed and records TaskCompleted.
// Completing a completed task changes nothing.
func (s *Store) CompleteTask(ctx context.Context, userID string, id int64) (task.Task, error) {
	return s.mutate(ctx, userID, id, func(t task.Task, now time.Time) (task.Task, string, error) {
		if t.Completed {
			return t, "", nil
		}
		t.Completed, t.CompletedAt = true, &now
		return t, events.TaskCompleted, nil
	})
}

// ReopenTask marks userID's completed task id open again and records
// TaskUpdated. Reopening an open task changes nothing.
func (s *Store) ReopenTask(ctx context.Context, userID string, id int64) (task.Task, error) {
	return s.mutate(ctx, userID, id, func(t task.Task, now time.Time) (task.Task, string, error) {
		if !t.Completed {
			return t, "", nil
		}
		t.Completed, t.CompletedAt = false, nil
		return t, events.TaskUpdated, nil
	})
}

// DeleteTask deletes userID's task id and records TaskDeleted.
func (s *Store) DeleteTask(ctx context.Context, userID string, id int64) error {
	now := s.clock()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		t, err := scanTask(tx.QueryRow(ctx, `UPDATE tasks SET deleted_at = $3, version = version + 1
			WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
			RETURNING `+taskColumns, id, userID, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return task.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("delete task: %w", err)
		}
		return writeEvent(ctx, tx, events.TaskDeleted, t, now)
	})
}

// mutate locks the task row, lets change decide the new state and the event
// to record (none when eventType is ""), and writes both. Locking the row
// before the outbox insert makes one task's outbox rows follow commit order.
//
// Three round trips: the transaction's start with the locking read, then
// the update with its event (the event is made from the row as the update
// leaves it: change's result, one version on, updated now), then the
// commit.
func (s *Store) mutate(ctx context.Context, userID string, id int64,
	change func(t task.Task, now time.Time) (task.Task, string, error),
) (out task.Task, err error) {
	now := s.clock()
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT `+taskColumns+` FROM tasks WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL FOR UPDATE`, id, userID)
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = br.Exec()
	var cur task.Task
	if err == nil {
		cur, err = scanTask(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return out, task.ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("store: lock task: %w", err)
	}
	next, eventType, err := change(cur, now)
	if err != nil {
		return out, err
	}
	if eventType == "" {
		return cur, tx.Commit(ctx)
	}
	next.Version, next.UpdatedAt = cur.Version+1, now
	next.Completed = next.CompletedAt != nil
	b = &pgx.Batch{}
	b.Queue(`UPDATE tasks SET title = $2, description = $3, priority = $4,
		tags = $5, due_at = $6, reminder_at = $7, recurrence = $8, timezone = $9,
		completed_at = $10, updated_at = $11, recurrence_anchor = $12, version = version + 1
		WHERE id = $1 RETURNING `+taskColumns,
		id, next.Title, next.Description, int16(next.Priority), next.Tags, next.DueAt, next.ReminderAt,
		string(next.Recurrence), next.Timezone, next.CompletedAt, now, next.RecurrenceAnchor)
	if err := queueEvent(ctx, b, eventType, next, now); err != nil {
		return out, fmt.Errorf("store: %w", err)
	}
	if out, err = taskAndEvent(tx.SendBatch(ctx, b)); err != nil {
		return out, fmt.Errorf("store: update task: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("store: commit: %w", err)
	}
	return out, nil
}

func sameContent(a, b task.Task) bool {
	return a.Title == b.Title && a.Description == b.Description && a.Priority == b.Priority &&
		slices.Equal(a.Tags, b.Tags) && timesEqual(a.DueAt, b.DueAt) && timesEqual(a.ReminderAt, b.ReminderAt) &&
		a.Recurrence == b.Recurrence && a.Timezone == b.Timezone
}

func timesEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// writeEvent records t's event of type eventType in the outbox, published
// once tx commits.
func writeEvent(ctx context.Context, tx pgx.Tx, eventType string, t task.Task, now time.Time) error {
	return outbox.Add(ctx, tx, outbox.Event{
		Topic: events.TopicTaskEvents, Type: eventType, TaskID: t.ID, Time: now, Data: t.Event(eventType, now),
	})
}

// queueEvent queues t's event of type eventType in b, as writeEvent
// records it in a transaction.
func queueEvent(ctx context.Context, b *pgx.Batch, eventType string, t task.Task, now time.Time) error {
	return outbox.Queue(ctx, b, outbox.Event{
		Topic: events.TopicTaskEvents, Type: eventType, TaskID: t.ID, Time: now, Data: t.Event(eventType, now),
	})
}

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err == nil || errors.Is(err, task.ErrNotFound) || task.IsValidationError(err) {
		return err
	}
	return fmt.Errorf("store: %w", err)
}

// ListTasks returns one page of userID's tasks matching q, and the cursor of
// the next page ("" on the last page).
func (s *Store) ListTasks(ctx context.Context, userID string, q task.ListQuery) ([]task.Task, string, error) {
	var (
		where = []string{"user_id = $1", "deleted_at IS NULL"}
		args  = []any{userID}
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	switch q.Status {
	case task.StatusOpen:
		where = append(where, "completed_at IS NULL")
	case task.StatusCompleted:
		where = append(where, "completed_at IS NOT NULL")
	}
	if q.Priority != nil {
		where = append(where, "priority = "+arg(int16(*q.Priority)))
	}
	if q.Tag != "" {
		where = append(where, "tags @> ARRAY["+arg(q.Tag)+"::text]")
	}
	if q.Q != "" {
		where = append(where, "(title || ' ' || description) ILIKE "+arg("%"+escapeLike(q.Q)+"%"))
	}
	if q.DueBefore != nil {
		where = append(where, "due_at < "+arg(*q.DueBefore))
	}
	if q.DueAfter != nil {
		where = append(where, "due_at > "+arg(*q.DueAfter))
	}

	key, cast := sortKey(q.Sort)
	dir, cmp := "ASC", ">"
	if q.Desc {
		dir, cmp = "DESC", "<"
	}
	if q.After != nil {
		v := q.After.Value
		if q.Sort == task.SortPriority {
			p, _ := task.ParsePriority(v) // DecodeCursor checked it
			v = strconv.Itoa(int(p))
		}
		where = append(where, fmt.Sprintf("(%s, id) %s (%s::%s, %s::bigint)", key, cmp, arg(v), cast, arg(q.After.ID)))
	}
	limit := q.Limit
	sql := `SELECT ` + taskColumns + ` FROM tasks WHERE ` + strings.Join(where, " AND ") +
		fmt.Sprintf(" ORDER BY %s %s, id %s LIMIT %s", key, dir, dir, arg(limit+1))

	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list tasks: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (task.Task, error) { return scanTask(r) })
	if err != nil {
		return nil, "", fmt.Errorf("store: list tasks: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = task.CursorAfter(list[limit-1], q.Sort, q.Desc).Encode()
	}
	return list, next, nil
}

// sortKey returns the SQL expression (matching an index) for a sort key and
// the type its cursor value is cast to.
func sortKey(sort string) (expr, cast string) {
	switch sort {
	case task.SortDueAt:
		return "COALESCE(due_at, 'infinity'::timestamptz)", "timestamptz"
	case task.SortPriority:
		return "priority", "smallint"
	case task.SortTitle:
		return "title", "text"
	default:
		return "created_at", "timestamptz"
	}
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

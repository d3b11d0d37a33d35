// Package store is todo-api's PostgreSQL storage: the tasks table. Every
// change to a task records its event with outbox.Add in the change's
// transaction; the store decides which change emits which event type.
//
// Its migrations (migrations/) are todo-api's whole schema, the outbox
// table included, whose statements are all in package outbox.
package store

import (
	"context"
	"encoding/json"
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
	recurrence, timezone, completed_at, created_at, updated_at, version, series_id, recurrence_anchor,
	rrule, repeat_from, series_index, last_in_series, skipped, reminders`

func scanTask(row pgx.Row) (task.Task, error) {
	var t task.Task
	var rec, from string
	var reminders []byte
	err := row.Scan(&t.ID, &t.UserID, &t.Title, &t.Description, &t.Priority, &t.Tags,
		&t.DueAt, &t.ReminderAt, &rec, &t.Timezone, &t.CompletedAt, &t.CreatedAt, &t.UpdatedAt,
		&t.Version, &t.SeriesID, &t.RecurrenceAnchor, &t.RRule, &from, &t.SeriesIndex, &t.LastInSeries, &t.Skipped, &reminders)
	if err != nil {
		return t, err
	}
	t.Recurrence, t.RepeatFrom = task.Recurrence(rec), task.RepeatFrom(from)
	if err := json.Unmarshal(reminders, &t.Reminders); err != nil {
		return t, fmt.Errorf("task %d: reminders: %w", t.ID, err)
	}
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
	sched := planReminders(t, nil, nil, now)
	t.ReminderAt = sched.next
	reminders, err := json.Marshal(t.Reminders)
	if err != nil {
		return t, fmt.Errorf("store: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tasks (id, user_id, title, description, priority, tags, due_at,
		reminder_at, recurrence, timezone, recurrence_anchor, created_at, updated_at,
		rrule, repeat_from, series_index, last_in_series, reminders)
		OVERRIDING SYSTEM VALUE
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15, $16, $17)
		RETURNING `+taskColumns,
		id, userID, t.Title, t.Description, int16(t.Priority), t.Tags, t.DueAt, t.ReminderAt,
		string(t.Recurrence), t.Timezone, t.RecurrenceAnchor, now,
		t.RRule, string(t.RepeatFrom), t.SeriesIndex, t.LastInSeries, reminders)
	sched.queue(b, id)
	if err := queueEvent(ctx, b, events.TaskCreated, t, now); err != nil {
		return t, fmt.Errorf("store: %w", err)
	}
	out, err := taskAndEvent(s.pool.SendBatch(ctx, b), 0, 3)
	if err != nil {
		return out, fmt.Errorf("store: insert task: %w", err)
	}
	return out, nil
}

// taskAndEvent reads the results of a batch of statements, one of which
// (number at) is a task's insert or update RETURNING the row, and the
// others, n in all after it or before it, execs (the reminder schedule's
// statements, the outbox insert); then it closes the batch. A task
// statement that affected no row gives pgx.ErrNoRows, once the rest of the
// batch went through.
func taskAndEvent(br pgx.BatchResults, at, n int) (task.Task, error) {
	var t task.Task
	var err, eerr error
	for i := 0; i <= n; i++ {
		if i == at {
			t, err = scanTask(br.QueryRow())
			continue
		}
		if _, e := br.Exec(); e != nil && eerr == nil {
			eerr = e
		}
	}
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

// SkipTask closes userID's occurrence id of a repeating series as skipped,
// not done, and records TaskCompleted with skipped: the series goes on as
// after a completion. Skipping a closed occurrence changes nothing; a task
// that does not repeat cannot be skipped (task.ErrNotRepeating).
func (s *Store) SkipTask(ctx context.Context, userID string, id int64) (task.Task, error) {
	return s.mutate(ctx, userID, id, func(t task.Task, now time.Time) (task.Task, string, error) {
		if t.Completed {
			return t, "", nil
		}
		if t.RRule == nil && !t.Recurrence.Repeats() {
			return t, "", task.ErrNotRepeating
		}
		t.Completed, t.CompletedAt, t.Skipped = true, &now, true
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
		t.Completed, t.CompletedAt, t.Skipped = false, nil, false
		return t, events.TaskUpdated, nil
	})
}

// DeleteTask deletes userID's task id and records TaskDeleted.
func (s *Store) DeleteTask(ctx context.Context, userID string, id int64) error {
	now := s.clock()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		t, err := scanTask(tx.QueryRow(ctx, `UPDATE tasks SET deleted_at = $3, version = version + 1, reminder_at = NULL
			WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL
			RETURNING `+taskColumns, id, userID, now))
		if errors.Is(err, pgx.ErrNoRows) {
			return task.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("delete task: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM task_reminder_times WHERE task_id = $1`, id); err != nil {
			return fmt.Errorf("delete task's reminders: %w", err)
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
	// What the reminder schedule holds, and what was sent.
	b.Queue(`SELECT array_agg(remind_at) FROM task_reminder_times WHERE task_id = $1`, id)
	b.Queue(`SELECT array_agg(reminder_at) FROM task_reminders WHERE task_id = $1 AND sent_at IS NOT NULL`, id)
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = br.Exec()
	var cur task.Task
	var pending, sent []time.Time
	if err == nil {
		cur, err = scanTask(br.QueryRow())
	}
	if err == nil {
		err = br.QueryRow().Scan(&pending)
	}
	if err == nil {
		err = br.QueryRow().Scan(&sent)
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
	sched := planReminders(next, pending, sent, now)
	next.ReminderAt = sched.next
	reminders, err := json.Marshal(next.Reminders)
	if err != nil {
		return out, fmt.Errorf("store: %w", err)
	}
	b = &pgx.Batch{}
	sched.queue(b, id)
	b.Queue(`UPDATE tasks SET title = $2, description = $3, priority = $4,
		tags = $5, due_at = $6, reminder_at = $7, recurrence = $8, timezone = $9,
		completed_at = $10, updated_at = $11, recurrence_anchor = $12, version = version + 1,
		rrule = $13, repeat_from = $14, series_index = $15, last_in_series = $16, skipped = $17, reminders = $18
		WHERE id = $1 RETURNING `+taskColumns,
		id, next.Title, next.Description, int16(next.Priority), next.Tags, next.DueAt, next.ReminderAt,
		string(next.Recurrence), next.Timezone, next.CompletedAt, now, next.RecurrenceAnchor,
		next.RRule, string(next.RepeatFrom), next.SeriesIndex, next.LastInSeries, next.Skipped, reminders)
	if err := queueEvent(ctx, b, eventType, next, now); err != nil {
		return out, fmt.Errorf("store: %w", err)
	}
	if out, err = taskAndEvent(tx.SendBatch(ctx, b), 2, 3); err != nil {
		return out, fmt.Errorf("store: update task: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("store: commit: %w", err)
	}
	return out, nil
}

func sameContent(a, b task.Task) bool {
	return a.Title == b.Title && a.Description == b.Description && a.Priority == b.Priority &&
		slices.Equal(a.Tags, b.Tags) && timesEqual(a.DueAt, b.DueAt) &&
		a.Recurrence == b.Recurrence && a.Timezone == b.Timezone &&
		slices.EqualFunc(a.Reminders, b.Reminders, task.SameReminder) && stringsEqual(a.RRule, b.RRule) &&
		a.RepeatFrom == b.RepeatFrom && a.SeriesIndex == b.SeriesIndex && a.LastInSeries == b.LastInSeries &&
		timesEqual(a.RecurrenceAnchor, b.RecurrenceAnchor)
}

func stringsEqual(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
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

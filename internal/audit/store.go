// Package audit is the audit service: it logs every task event to the
// console, stores it once per CloudEvent id, and serves a task's history.
package audit

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps audit events in PostgreSQL (table audit_events).
type Store struct{ pool *pgxpool.Pool }

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Migrate creates or updates the audit schema. Its version table and
// advisory lock are its own, so it can share a database with todo-api.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("audit: migrations: %w", err)
	}
	if err := migrate.Up(ctx, pool, fsys, "audit_schema_migrations", 0x61756469 /* "audi" */, log); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Record stores the event with id once; inserted is false for a duplicate.
func (s *Store) Record(ctx context.Context, id string, e events.TaskEvent, raw json.RawMessage) (inserted bool, err error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO audit_events (event_id, task_id, user_id, event_type, version, occurred_at, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING`,
		id, e.TaskID, e.UserID, e.EventType, e.Version, e.Timestamp, raw)
	if err != nil {
		return false, fmt.Errorf("audit: record event %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// HistoryCursor is the position of an event in its task's history: a page
// starts after it. Its string form is opaque to clients.
type HistoryCursor struct {
	Version int
	At      time.Time
	EventID string
}

// ErrBadCursor is returned by ParseHistoryCursor for a cursor this service
// did not make.
var ErrBadCursor = errors.New("audit: invalid history cursor")

// cursorOf returns the cursor of e: the next page starts after it.
func cursorOf(e auditapi.Entry) HistoryCursor {
	return HistoryCursor{Version: e.Version, At: e.Timestamp, EventID: e.EventID}
}

func (c HistoryCursor) String() string {
	raw := strconv.Itoa(c.Version) + "|" + c.At.UTC().Format(time.RFC3339Nano) + "|" + c.EventID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseHistoryCursor decodes a cursor made by HistoryCursor.String.
func ParseHistoryCursor(s string) (HistoryCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 512 {
		return HistoryCursor{}, ErrBadCursor
	}
	v, rest, ok1 := strings.Cut(string(raw), "|")
	at, id, ok2 := strings.Cut(rest, "|")
	version, err1 := strconv.ParseInt(v, 10, 32) // audit_events.version is an integer column
	t, err2 := time.Parse(time.RFC3339Nano, at)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || version < 0 || id == "" || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return HistoryCursor{}, ErrBadCursor
	}
	return HistoryCursor{Version: int(version), At: t, EventID: id}, nil
}

// History returns at most limit events of task taskID in the order they
// happened (by version), after the position after when it is not nil.
func (s *Store) History(ctx context.Context, taskID int64, after *HistoryCursor, limit int) ([]auditapi.Entry, error) {
	var rows pgx.Rows
	var err error
	if after == nil {
		rows, err = s.pool.Query(ctx, `SELECT event_id, event_type, version, occurred_at, received_at, data
			FROM audit_events WHERE task_id = $1 ORDER BY version, occurred_at, event_id LIMIT $2`, taskID, limit)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT event_id, event_type, version, occurred_at, received_at, data
			FROM audit_events WHERE task_id = $1 AND (version, occurred_at, event_id) > ($2, $3, $4)
			ORDER BY version, occurred_at, event_id LIMIT $5`, taskID, after.Version, after.At, after.EventID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: history: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditapi.Entry, error) {
		var e auditapi.Entry
		err := r.Scan(&e.EventID, &e.EventType, &e.Version, &e.Timestamp, &e.ReceivedAt, &e.Data)
		e.Timestamp, e.ReceivedAt = e.Timestamp.UTC(), e.ReceivedAt.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: history: %w", err)
	}
	return list, nil
}

// Ping checks the database.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

package task

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned when a task does not exist or belongs to someone
// else: callers cannot tell the two apart, so task ids do not leak.
var ErrNotFound = errors.New("task not found")

// ErrConflict is returned when a request contradicts the stored state, such
// as a next occurrence asked for another user's task.
var ErrConflict = errors.New("conflict")

// ErrNotRepeating is a skip of a task that does not repeat: only an
// occurrence of a series can be skipped.
var ErrNotRepeating = errors.New("only an occurrence of a repeating task can be skipped; complete or delete it")

// Status filters the task list.
type Status string

// Statuses accepted by ListQuery.
const (
	StatusOpen      Status = "open"
	StatusCompleted Status = "completed"
	StatusAll       Status = "all"
)

// Sort keys accepted by ListQuery.
const (
	SortCreatedAt = "created_at"
	SortDueAt     = "due_at"
	SortPriority  = "priority"
	SortTitle     = "title"
)

// Page size bounds for ListQuery.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// ListQuery is a validated request for one page of a user's tasks.
type ListQuery struct {
	Status    Status
	Priority  *Priority
	Tag       string
	Q         string
	DueBefore *time.Time
	DueAfter  *time.Time
	Sort      string
	Desc      bool
	Limit     int
	After     *Cursor // nil for the first page
}

// Cursor marks the last row of a page: its sort key value and its id. It is
// bound to the sort order it was made for.
type Cursor struct {
	Sort  string `json:"s"`
	Desc  bool   `json:"d,omitempty"`
	Value string `json:"v"`
	ID    int64  `json:"i"`
}

// Encode returns the opaque form handed to clients.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c) // a struct of strings, bool and int cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrBadCursor is returned for a cursor that was not made by Encode or that
// belongs to a different sort order.
var ErrBadCursor = errors.New("invalid cursor")

// DecodeCursor parses a cursor made by Encode and checks that it was made for
// the given sort order.
func DecodeCursor(s, sort string, desc bool) (Cursor, error) {
	var c Cursor
	if len(s) > 512 {
		return c, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, ErrBadCursor
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, ErrBadCursor
	}
	// Only what Encode made: this refuses duplicate and unknown keys,
	// trailing data and invalid UTF-8 (which Unmarshal would have replaced).
	if c.Encode() != s {
		return c, ErrBadCursor
	}
	if c.Sort != sort || c.Desc != desc || c.ID <= 0 {
		return c, fmt.Errorf("%w: it belongs to a different sort order; start again without cursor", ErrBadCursor)
	}
	if err := checkCursorValue(c); err != nil {
		return c, err
	}
	return c, nil
}

func checkCursorValue(c Cursor) error {
	switch c.Sort {
	case SortCreatedAt:
		return checkCursorTime(c.Value)
	case SortDueAt:
		if c.Value == "infinity" {
			return nil
		}
		return checkCursorTime(c.Value)
	case SortPriority:
		if _, err := ParsePriority(c.Value); err != nil {
			return ErrBadCursor
		}
	case SortTitle:
		if len(c.Value) > 4*MaxTitleLen || checkText("cursor", c.Value) != nil {
			return ErrBadCursor
		}
	default:
		return ErrBadCursor
	}
	return nil
}

// checkCursorTime accepts the times CursorAfter writes: RFC 3339 in UTC,
// within the years a task's times can have (PostgreSQL refuses year 0).
func checkCursorTime(v string) error {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || !TimeInRange(t) || t.Location() != time.UTC {
		return ErrBadCursor
	}
	return nil
}

// CursorAfter returns the cursor that continues a listing after t.
func CursorAfter(t Task, sort string, desc bool) Cursor {
	c := Cursor{Sort: sort, Desc: desc, ID: t.ID}
	switch sort {
	case SortDueAt:
		if t.DueAt == nil {
			c.Value = "infinity"
		} else {
			c.Value = t.DueAt.UTC().Format(time.RFC3339Nano)
		}
	case SortPriority:
		c.Value = t.Priority.String()
	case SortTitle:
		c.Value = t.Title
	default:
		c.Value = t.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	return c
}

// Reminder is a task whose reminder time has passed and whose reminder has
// not been sent for that time.
type Reminder struct {
	TaskID     int64      `json:"task_id"`
	UserID     string     `json:"user_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	ReminderAt time.Time  `json:"reminder_at"`
	Before     *string    `json:"before"`   // the relative reminder it comes from (ISO 8601); nil for an absolute one
	Timezone   string     `json:"timezone"` // the task's
}

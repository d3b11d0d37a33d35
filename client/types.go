package client

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/contract/notifierapi"
)

// Priority orders tasks.
type Priority string

// Priorities, lowest first.
const (
	PriorityNone   Priority = "none"
	PriorityLow    Priority = "low"
	PriorityMedium Priority = "medium"
	PriorityHigh   Priority = "high"
)

// Recurrence says how often a task repeats: completing a recurring task
// makes its next occurrence.
type Recurrence string

// Recurrences a task can have.
const (
	RecurrenceNone    Recurrence = "none"
	RecurrenceDaily   Recurrence = "daily"
	RecurrenceWeekly  Recurrence = "weekly"
	RecurrenceMonthly Recurrence = "monthly"
	RecurrenceYearly  Recurrence = "yearly"
)

// RepeatFrom says where a series goes on from after an occurrence is
// closed.
type RepeatFrom string

// The ways a series goes on.
const (
	RepeatFromDue        RepeatFrom = "due"        // the series keeps its schedule
	RepeatFromCompletion RepeatFrom = "completion" // the rule applies from the day of closing
)

// Reminder is one reminder of a task: Before its due time (an ISO 8601
// duration such as "PT15M" or "P1D") or At an absolute time.
type Reminder struct {
	Before string     `json:"before,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// RecurrencePreview is what a rule gives: its next occurrences, what it
// says in plain English, and its canonical form.
type RecurrencePreview struct {
	Occurrences []time.Time `json:"occurrences"`
	Summary     string      `json:"summary"`
	RRule       string      `json:"rrule"`
}

// Task is a task as the API answers it.
type Task struct {
	ID          int64      `json:"id"`
	UserID      string     `json:"user_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Priority    Priority   `json:"priority"`
	Tags        []string   `json:"tags"`
	DueAt       *time.Time `json:"due_at"`
	ReminderAt  *time.Time `json:"reminder_at"` // the next reminder not sent yet
	Reminders   []Reminder `json:"reminders"`
	// Recurrence is the simple repeat, or the unit of RRule; none on the
	// last occurrence of a series that ends.
	Recurrence   Recurrence `json:"recurrence"`
	RRule        *string    `json:"rrule"` // an RFC 5545 RRULE, canonical; nil for none
	RepeatFrom   RepeatFrom `json:"repeat_from"`
	LastInSeries bool       `json:"last_in_series"` // nothing follows it
	SeriesIndex  int        `json:"series_index"`   // its number in its series, 1 for the first
	Timezone     string     `json:"timezone"`       // IANA time zone name, used for recurrence
	Completed    bool       `json:"completed"`
	CompletedAt  *time.Time `json:"completed_at"`
	Skipped      bool       `json:"skipped"` // closed as skipped, not done
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	// Version counts the task's changes, starting at 1; its events carry it.
	Version int `json:"version"`
	// SeriesID is the id of the first task of the recurring series this
	// task was made in, or nil for a task a client created.
	SeriesID *int64 `json:"series_id"`
}

// NewTask is the body of CreateTask. Only Title is required; a field left
// at its zero value is not sent, so the task gets the API's default: no
// description, priority none, no tags, no due or reminder time, recurrence
// none, time zone UTC.
type NewTask struct {
	Title       string     `json:"title"`
	Description string     `json:"description,omitempty"`
	Priority    Priority   `json:"priority,omitempty"`
	Tags        []string   `json:"tags,omitempty"`
	DueAt       *time.Time `json:"due_at,omitempty"`
	ReminderAt  *time.Time `json:"reminder_at,omitempty"` // one absolute reminder; not with Reminders
	Reminders   []Reminder `json:"reminders,omitempty"`
	Recurrence  Recurrence `json:"recurrence,omitempty"`
	RRule       string     `json:"rrule,omitempty"`
	RepeatFrom  RepeatFrom `json:"repeat_from,omitempty"`
	Timezone    string     `json:"timezone,omitempty"`
}

// TaskPatch is the body of UpdateTask: only the fields that are set are
// sent, and the others stay as they are. Null clears Description, Tags,
// DueAt and ReminderAt, and resets Priority and Recurrence to none; the API
// refuses null for Title and Timezone.
//
//	client.TaskPatch{Title: client.Set("new title"), DueAt: client.Null[time.Time]()}
type TaskPatch struct {
	Title       Field[string]     `json:"title,omitzero"`
	Description Field[string]     `json:"description,omitzero"`
	Priority    Field[Priority]   `json:"priority,omitzero"`
	Tags        Field[[]string]   `json:"tags,omitzero"`
	DueAt       Field[time.Time]  `json:"due_at,omitzero"`
	ReminderAt  Field[time.Time]  `json:"reminder_at,omitzero"`
	Reminders   Field[[]Reminder] `json:"reminders,omitzero"`
	Recurrence  Field[Recurrence] `json:"recurrence,omitzero"`
	RRule       Field[string]     `json:"rrule,omitzero"`
	RepeatFrom  Field[RepeatFrom] `json:"repeat_from,omitzero"`
	Timezone    Field[string]     `json:"timezone,omitzero"`
}

// Field is one member of a TaskPatch: left out (the zero Field), set to a
// value (Set), or null (Null).
type Field[T any] struct {
	state fieldState
	value T
}

type fieldState uint8

const (
	absent fieldState = iota
	present
	null
)

// Set returns a Field that sends v.
func Set[T any](v T) Field[T] { return Field[T]{state: present, value: v} }

// Null returns a Field that sends null.
func Null[T any]() Field[T] { return Field[T]{state: null} }

// IsZero reports whether f is left out; encoding/json's omitzero uses it.
func (f Field[T]) IsZero() bool { return f.state == absent }

// IsNull reports whether f sends null.
func (f Field[T]) IsNull() bool { return f.state == null }

// Get returns the value f sends and whether it sends one (not null, not
// left out).
func (f Field[T]) Get() (T, bool) { return f.value, f.state == present }

// MarshalJSON encodes the value, or null.
func (f Field[T]) MarshalJSON() ([]byte, error) {
	if f.state != present {
		return []byte("null"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f.value); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// UnmarshalJSON decodes null as Null and anything else as Set.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*f = Null[T]()
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Set(v)
	return nil
}

// Status selects tasks by completion in ListQuery.
type Status string

// Statuses ListQuery takes.
const (
	StatusAll       Status = "all"
	StatusOpen      Status = "open"
	StatusCompleted Status = "completed"
)

// Sort orders ListTasks. Tasks without due_at sort after all others for
// SortDueAt.
type Sort string

// Sort orders ListQuery takes.
const (
	SortCreatedAt Sort = "created_at"
	SortDueAt     Sort = "due_at"
	SortPriority  Sort = "priority"
	SortTitle     Sort = "title"
)

// Order is the direction of Sort.
type Order string

// Directions ListQuery takes.
const (
	OrderAsc  Order = "asc"
	OrderDesc Order = "desc"
)

// ListQuery filters, sorts and pages ListTasks. A zero field is not sent,
// so the API's default applies: every status, any priority and tag, sorted
// by created_at ascending, 50 tasks a page.
type ListQuery struct {
	Status    Status
	Priority  Priority
	Tag       string     // tasks that carry this tag
	Q         string     // case-insensitive substring of the title or description
	DueBefore *time.Time // due_at strictly before
	DueAfter  *time.Time // due_at strictly after
	Sort      Sort
	Order     Order
	Limit     int    // 1 to 100
	Cursor    string // NextCursor of the previous page, of the same Sort and Order
}

// Values encodes q as the query string of GET /api/tasks.
func (q ListQuery) Values() url.Values {
	v := url.Values{}
	set := func(name, s string) {
		if s != "" {
			v.Set(name, s)
		}
	}
	set("status", string(q.Status))
	set("priority", string(q.Priority))
	set("tag", q.Tag)
	set("q", q.Q)
	if q.DueBefore != nil {
		v.Set("due_before", q.DueBefore.Format(time.RFC3339Nano))
	}
	if q.DueAfter != nil {
		v.Set("due_after", q.DueAfter.Format(time.RFC3339Nano))
	}
	set("sort", string(q.Sort))
	set("order", string(q.Order))
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	return v
}

// TaskPage is one page of ListTasks; NextCursor is nil on the last page.
type TaskPage struct {
	Tasks      []Task  `json:"tasks"`
	NextCursor *string `json:"next_cursor"`
}

// PageQuery pages History and Notifications: after Cursor (the NextCursor
// of the previous page; "" from the start), at most Limit entries (the
// API's default when 0: 100 events of a history, 20 notifications).
type PageQuery struct {
	Limit  int
	Cursor string
}

// Values encodes q as a query string.
func (q PageQuery) Values() url.Values {
	v := url.Values{}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// HistoryPage is one page of a task's events in version order, as
// audit-service keeps them; NextCursor is nil on the last page. A page
// holds at most the limit of events and about 1 MiB of event data.
type HistoryPage = auditapi.HistoryPage

// HistoryEntry is one event of a task's history; Data is the event's data
// as it was published.
type HistoryEntry = auditapi.Entry

// InboxPage is one page of the caller's notifications, newest first;
// Unread counts the whole inbox; NextCursor is nil on the last page.
type InboxPage = notifierapi.InboxPage

// Notification is one entry of the inbox: a reminder that fell due.
type Notification = notifierapi.Notification

// Readiness is the answer of Ready: "ready" or "unavailable", and the state
// of each dependency.
type Readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Package task holds the todo domain: the Task type, its enumerations and the
// validation of what clients send. It does no I/O.
package task

import (
	"fmt"
	"time"
)

// Priority orders tasks; the zero value is PriorityNone.
type Priority int16

// Priorities, lowest first. The numeric value is what the database stores and
// sorts on.
const (
	PriorityNone Priority = iota
	PriorityLow
	PriorityMedium
	PriorityHigh
)

var priorityNames = [...]string{"none", "low", "medium", "high"}

func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return fmt.Sprintf("Priority(%d)", int16(p))
	}
	return priorityNames[p]
}

// ParsePriority maps "none", "low", "medium" or "high" to a Priority.
func ParsePriority(s string) (Priority, error) {
	for i, n := range priorityNames {
		if n == s {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("must be one of none, low, medium, high")
}

// MarshalText implements encoding.TextMarshaler.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Recurrence says how often a task repeats.
type Recurrence string

// Recurrences a task can have.
const (
	RecurrenceNone    Recurrence = "none"
	RecurrenceDaily   Recurrence = "daily"
	RecurrenceWeekly  Recurrence = "weekly"
	RecurrenceMonthly Recurrence = "monthly"
	RecurrenceYearly  Recurrence = "yearly"
)

// ParseRecurrence checks that s names a known recurrence.
func ParseRecurrence(s string) (Recurrence, error) {
	switch r := Recurrence(s); r {
	case RecurrenceNone, RecurrenceDaily, RecurrenceWeekly, RecurrenceMonthly, RecurrenceYearly:
		return r, nil
	}
	return "", fmt.Errorf("must be one of none, daily, weekly, monthly, yearly")
}

// Task is one todo item, as stored and as served.
type Task struct {
	ID          int64      `json:"id"`
	UserID      string     `json:"user_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Priority    Priority   `json:"priority"`
	Tags        []string   `json:"tags"`
	DueAt       *time.Time `json:"due_at"`
	ReminderAt  *time.Time `json:"reminder_at"`
	Recurrence  Recurrence `json:"recurrence"`
	Timezone    string     `json:"timezone"`
	Completed   bool       `json:"completed"`
	CompletedAt *time.Time `json:"completed_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	// Version counts the task's changes, starting at 1.
	Version int `json:"version"`
	// SeriesID is the id of the first task of the recurring series this task
	// was created in, or nil for a task created by a client.
	SeriesID *int64 `json:"series_id"`
	// RecurrenceAnchor is the due time the series' day of month and day of
	// year come from. It follows due_at when a client sets due_at.
	RecurrenceAnchor *time.Time `json:"-"`
}

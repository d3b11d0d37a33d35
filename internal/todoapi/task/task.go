// Package task holds the todo domain: the Task type, its enumerations and the
// validation of what clients send. It does no I/O.
package task

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/recurrence"
)

// Priority orders tasks; the zero value is PriorityNone.
type Priority int16

// Priorities, lowest first. The numeric value is what the database stores and
// sorts on; the name is what the API and the events carry.
const (
	PriorityNone Priority = iota
	PriorityLow
	PriorityMedium
	PriorityHigh
)

// priorityNames is the one list of priorities: index = value. Priorities,
// ParsePriority's error, String and Valid come from it, and tests compare it
// with the OpenAPI enum and the database's CHECK.
var priorityNames = [...]string{"none", "low", "medium", "high"}

// Priorities returns every priority, lowest first.
func Priorities() []Priority {
	ps := make([]Priority, len(priorityNames))
	for i := range ps {
		ps[i] = Priority(i)
	}
	return ps
}

// Valid reports whether p is one of Priorities.
func (p Priority) Valid() bool { return p >= 0 && int(p) < len(priorityNames) }

func (p Priority) String() string {
	if !p.Valid() {
		return fmt.Sprintf("Priority(%d)", int16(p))
	}
	return priorityNames[p]
}

// ExpectedPriority says what a priority must be: "must be one of none, low,
// medium, high". It is the message of ParsePriority's error.
func ExpectedPriority() string { return "must be one of " + strings.Join(priorityNames[:], ", ") }

// ParsePriority maps a priority's name ("none", "low", ...) to it.
func ParsePriority(s string) (Priority, error) {
	for i, n := range priorityNames {
		if n == s {
			return Priority(i), nil
		}
	}
	return 0, errors.New(ExpectedPriority())
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

// Recurrence says how often a task repeats. It is recurrence.Rule: the rules
// have one home, package recurrence.
type Recurrence = recurrence.Rule

// Recurrences a task can have (recurrence.Rules).
const (
	RecurrenceNone    = recurrence.None
	RecurrenceDaily   = recurrence.Daily
	RecurrenceWeekly  = recurrence.Weekly
	RecurrenceMonthly = recurrence.Monthly
	RecurrenceYearly  = recurrence.Yearly
)

// ParseRecurrence checks that s names a known recurrence (recurrence.Parse).
func ParseRecurrence(s string) (Recurrence, error) { return recurrence.Parse(s) }

// RepeatFrom says where a series goes on from (recurrence.RepeatFrom).
type RepeatFrom = recurrence.RepeatFrom

// Task is one todo item, as stored and as served.
type Task struct {
	ID          int64      `json:"id"`
	UserID      string     `json:"user_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Priority    Priority   `json:"priority"`
	Tags        []string   `json:"tags"`
	DueAt       *time.Time `json:"due_at"`
	// ReminderAt is the time of the next reminder not sent yet (nil when
	// none is pending); writing it sets one absolute reminder.
	ReminderAt *time.Time     `json:"reminder_at"`
	Reminders  []ReminderSpec `json:"reminders"`
	// Recurrence is the spec's field: the simple repeat, or the unit of
	// RRule, and "none" on the last occurrence of a series that ends.
	Recurrence Recurrence `json:"recurrence"`
	// RRule is an RFC 5545 rule in its canonical form; nil for a simple
	// repeat or none.
	RRule      *string    `json:"rrule"`
	RepeatFrom RepeatFrom `json:"repeat_from"`
	// LastInSeries is the last occurrence of a series that ends (COUNT or
	// UNTIL): nothing follows it.
	LastInSeries bool `json:"last_in_series"`
	// SeriesIndex is the occurrence's number in its series, 1 for the
	// first (COUNT counts it).
	SeriesIndex int        `json:"series_index"`
	Timezone    string     `json:"timezone"`
	Completed   bool       `json:"completed"`
	CompletedAt *time.Time `json:"completed_at"`
	// Skipped is an occurrence closed as skipped, not done.
	Skipped   bool      `json:"skipped"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version counts the task's changes, starting at 1.
	Version int `json:"version"`
	// SeriesID is the id of the first task of the recurring series this task
	// was created in, or nil for a task created by a client.
	SeriesID *int64 `json:"series_id"`
	// RecurrenceAnchor is the due time the series' day of month and day of
	// year come from. It follows due_at when a client sets due_at.
	RecurrenceAnchor *time.Time `json:"-"`
}

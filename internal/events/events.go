// Package events defines the messages that cross service boundaries: the
// topics, the event payloads (the spec's schemas, with their exact field
// names and types) and their CloudEvents envelope. Producers and consumers
// of every topic use it; nobody rebuilds these types by hand.
//
// It is a leaf: it imports none of the services' packages, so that a
// consumer links the contract and not todo-api's domain. Producers map their
// own types to these (todo-api's task.Task.Event, for one).
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// Names that are part of the contract between the services and Dapr.
const (
	PubSubName      = "kafka-pubsub"
	TopicTaskEvents = "task-events"
	TopicReminders  = "reminders"
)

// ReminderDue is the event type on the reminders topic.
const ReminderDue = "ReminderDue"

// Event types on the task-events topic.
const (
	TaskCreated   = "TaskCreated"
	TaskUpdated   = "TaskUpdated"
	TaskDeleted   = "TaskDeleted"
	TaskCompleted = "TaskCompleted"
)

// CloudEventType is the CloudEvents "type" attribute for an event type, e.g.
// "todo.TaskCreated.v1". Subscribers route on data.event_type, as the spec
// does; the CloudEvents type carries the same information plus a version.
func CloudEventType(eventType string) string { return "todo." + eventType + ".v1" }

// TaskEvent is the data of every event on task-events. The first five fields
// (and recurrence) are the spec's schema; the rest is a snapshot of the task
// so that consumers need not call back.
type TaskEvent struct {
	EventType   string     `json:"event_type"`
	TaskID      int64      `json:"task_id"`
	UserID      string     `json:"user_id"`
	Title       string     `json:"title"`
	Timestamp   time.Time  `json:"timestamp"`
	Recurrence  string     `json:"recurrence"`
	Description string     `json:"description"`
	Priority    string     `json:"priority"`
	Tags        []string   `json:"tags"`
	DueAt       *time.Time `json:"due_at"`
	ReminderAt  *time.Time `json:"reminder_at"`
	Timezone    string     `json:"timezone"`
	Completed   bool       `json:"completed"`
	CompletedAt *time.Time `json:"completed_at"`
	// Version is the task's version after this change: a task's events
	// have increasing versions.
	Version          int        `json:"version"`
	SeriesID         *int64     `json:"series_id"`
	RecurrenceAnchor *time.Time `json:"recurrence_anchor"`
	// RRule is the task's RFC 5545 rule (canonical form), null for a
	// simple repeat; Recurrence is then its unit, or "none" on the last
	// occurrence of a series that ends (LastInSeries).
	RRule        *string        `json:"rrule"`
	RepeatFrom   string         `json:"repeat_from"` // "due" or "completion"
	Reminders    []ReminderSpec `json:"reminders"`
	LastInSeries bool           `json:"last_in_series"`
	SeriesIndex  int            `json:"series_index"` // the occurrence's number in its series, 1 for the first
	// Skipped is a TaskCompleted of an occurrence closed as skipped: the
	// series goes on as after a completion.
	Skipped bool `json:"skipped"`
}

// ReminderSpec is one reminder of a task: Before its due time (an ISO 8601
// duration such as "PT15M") or At an absolute time.
type ReminderSpec struct {
	Before string     `json:"before,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// KnownTaskEventType reports whether t is one of the task-events types of
// this version. Consumers accept the others too: a producer may add a type
// (TaskArchived, say) before they are upgraded, and refusing it would send
// each such event to the dead-letter topic.
func KnownTaskEventType(t string) bool {
	switch t {
	case TaskCreated, TaskUpdated, TaskDeleted, TaskCompleted:
		return true
	}
	return false
}

// ErrUnknownEventType is returned by DecodeReminderEvent for an event of a
// type the reminders topic did not have in this version.
var ErrUnknownEventType = errors.New("unknown event type")

// Validate checks the fields every consumer relies on. The event type must
// be given, but may be one this version does not know (KnownTaskEventType).
func (e TaskEvent) Validate() error {
	switch {
	case e.EventType == "":
		return errors.New("event_type is required")
	case e.TaskID <= 0:
		return errors.New("task_id must be a positive integer")
	case e.UserID == "":
		return errors.New("user_id is required")
	case e.Timestamp.IsZero():
		return errors.New("timestamp is required")
	}
	return nil
}

// ReminderEvent is the data of a ReminderDue event: the spec's schema plus
// the reminder time it is for.
type ReminderEvent struct {
	EventType  string     `json:"event_type"`
	TaskID     int64      `json:"task_id"`
	UserID     string     `json:"user_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"` // the task's due time; null when it has none
	ReminderAt time.Time  `json:"reminder_at"`
	// Before is the relative reminder it comes from ("PT15M"), absent for
	// an absolute one.
	Before string `json:"before,omitempty"`
	// Timezone is the task's IANA time zone, in which the notification
	// says how the due time stands.
	Timezone string `json:"timezone,omitempty"`
}

// Validate checks the fields the notification service relies on.
func (e ReminderEvent) Validate() error {
	switch {
	case e.EventType == "":
		return errors.New("event_type is required")
	case e.EventType != ReminderDue:
		return fmt.Errorf("%w %q", ErrUnknownEventType, e.EventType)
	case e.TaskID <= 0:
		return errors.New("task_id must be a positive integer")
	case e.UserID == "":
		return errors.New("user_id is required")
	case e.ReminderAt.IsZero():
		return errors.New("reminder_at is required")
	}
	return nil
}

// ReminderEventID is the CloudEvent id of the reminder of task taskID for
// reminderAt: the same on every sweep, replica and retry, so that the
// notification service delivers it once.
func ReminderEventID(taskID int64, reminderAt time.Time) string {
	name := strconv.FormatInt(taskID, 10) + "/" + reminderAt.UTC().Format(time.RFC3339Nano)
	return uuid.NewSHA1(reminderNamespace, []byte(name)).String()
}

var reminderNamespace = uuid.MustParse("6f1d4c1e-2b9a-4f0e-9a57-5c0de1e7a001")

// DecodeEnvelope parses a delivered CloudEvent and checks its required
// attributes: consumers deduplicate on the id, so an event without one must
// be refused, not stored under "".
func DecodeEnvelope(body []byte) (cloudevents.Event, error) {
	var ce cloudevents.Event
	if err := json.Unmarshal(body, &ce); err != nil {
		return ce, fmt.Errorf("events: not a cloud event: %w", err)
	}
	if err := ce.Validate(); err != nil {
		return ce, fmt.Errorf("events: invalid cloud event: %w", err)
	}
	return ce, nil
}

// DecodeReminderEvent reads a ReminderDue out of a delivered CloudEvent.
func DecodeReminderEvent(body []byte) (cloudevents.Event, ReminderEvent, error) {
	ce, err := DecodeEnvelope(body)
	if err != nil {
		return ce, ReminderEvent{}, err
	}
	re, err := ReminderEventOf(ce)
	return ce, re, err
}

// ReminderEventOf reads the ReminderDue in ce's data; an event of another
// type is ErrUnknownEventType.
func ReminderEventOf(ce cloudevents.Event) (ReminderEvent, error) {
	var re ReminderEvent
	if err := json.Unmarshal(ce.Data(), &re); err != nil {
		return re, fmt.Errorf("events: bad reminder data: %w", err)
	}
	if re.EventType != "" && re.EventType != ReminderDue {
		return re, fmt.Errorf("events: %w %q on %s", ErrUnknownEventType, re.EventType, TopicReminders)
	}
	if err := re.Validate(); err != nil {
		return re, fmt.Errorf("events: %w", err)
	}
	return re, nil
}

// NewCloudEvent wraps data in a CloudEvents 1.0 envelope whose id is id.
// subject is the task id, so that tools can group a task's events.
func NewCloudEvent(id, source, eventType string, taskID int64, at time.Time, data any) (cloudevents.Event, error) {
	ce := cloudevents.New()
	ce.SetID(id)
	ce.SetSource(source)
	ce.SetType(CloudEventType(eventType))
	ce.SetSubject(strconv.FormatInt(taskID, 10))
	ce.SetTime(at.UTC())
	if err := ce.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return ce, fmt.Errorf("events: encode data: %w", err)
	}
	if err := ce.Validate(); err != nil {
		return ce, fmt.Errorf("events: invalid cloud event: %w", err)
	}
	return ce, nil
}

// DecodeTaskEvent reads a task event out of a CloudEvent as Dapr delivers it
// (the spec's fields are under "data", never at the top level).
func DecodeTaskEvent(body []byte) (cloudevents.Event, TaskEvent, error) {
	ce, err := DecodeEnvelope(body)
	if err != nil {
		return ce, TaskEvent{}, err
	}
	te, err := TaskEventOf(ce)
	return ce, te, err
}

// TaskEventOf reads and validates the task event in ce's data.
func TaskEventOf(ce cloudevents.Event) (TaskEvent, error) {
	var te TaskEvent
	if err := json.Unmarshal(ce.Data(), &te); err != nil {
		return te, fmt.Errorf("events: bad task event data: %w", err)
	}
	if err := te.Validate(); err != nil {
		return te, fmt.Errorf("events: %w", err)
	}
	return te, nil
}

// DueStatus says how the task's due time stands at the reminder's time, in
// the task's time zone: "due in 15 minutes", "due now", "overdue since
// 09:00" (or "since Mon 4 Jan 09:00" on another day); "" when the task has
// no due time.
func (e ReminderEvent) DueStatus() string {
	if e.DueAt == nil {
		return ""
	}
	loc, err := time.LoadLocation(e.Timezone)
	if err != nil || e.Timezone == "" {
		loc = time.UTC
	}
	d := e.DueAt.Sub(e.ReminderAt).Round(time.Minute)
	switch {
	case d == 0:
		return "due now"
	case d > 0:
		return "due in " + span(d)
	}
	due, at := e.DueAt.In(loc), e.ReminderAt.In(loc)
	if y, m, day := due.Date(); y == at.Year() && m == at.Month() && day == at.Day() {
		return "overdue since " + due.Format("15:04")
	}
	return "overdue since " + due.Format("Mon 2 Jan 15:04")
}

// span reads a positive duration of whole minutes as days, hours and
// minutes: "15 minutes", "1 hour", "1 day 2 hours".
func span(d time.Duration) string {
	days, rest := int(d/(24*time.Hour)), d%(24*time.Hour)
	hours, mins := int(rest/time.Hour), int(rest%time.Hour/time.Minute)
	var parts []string
	for _, p := range []struct {
		n    int
		unit string
	}{{days, "day"}, {hours, "hour"}, {mins, "minute"}} {
		switch {
		case p.n == 1:
			parts = append(parts, "1 "+p.unit)
		case p.n > 1:
			parts = append(parts, strconv.Itoa(p.n)+" "+p.unit+"s")
		}
	}
	if len(parts) > 2 {
		parts = parts[:2] // "1 day 2 hours": minutes do not matter then
	}
	return strings.Join(parts, " ")
}

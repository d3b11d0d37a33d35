// Package events defines the messages that cross service boundaries: the
// topics, the event payloads (the spec's schemas, with their exact field
// names and types) and their CloudEvents envelope. It is the only package the
// services share besides the Dapr client.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/evolution-todo/todo/internal/task"
)

// Names that are part of the contract between the services and Dapr.
const (
	PubSubName      = "kafka-pubsub"
	TopicTaskEvents = "task-events"
	TopicReminders  = "reminders"
)

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
}

// NewTaskEvent describes a change of t that happened at `at`.
func NewTaskEvent(eventType string, t task.Task, at time.Time) TaskEvent {
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	return TaskEvent{
		EventType:   eventType,
		TaskID:      t.ID,
		UserID:      t.UserID,
		Title:       t.Title,
		Timestamp:   at.UTC(),
		Recurrence:  string(t.Recurrence),
		Description: t.Description,
		Priority:    t.Priority.String(),
		Tags:        tags,
		DueAt:       t.DueAt,
		ReminderAt:  t.ReminderAt,
		Timezone:    t.Timezone,
		Completed:   t.Completed,
		CompletedAt: t.CompletedAt,
	}
}

// Validate checks the fields every consumer relies on.
func (e TaskEvent) Validate() error {
	switch e.EventType {
	case TaskCreated, TaskUpdated, TaskDeleted, TaskCompleted:
	default:
		return fmt.Errorf("unknown event_type %q", e.EventType)
	}
	switch {
	case e.TaskID <= 0:
		return errors.New("task_id must be a positive integer")
	case e.UserID == "":
		return errors.New("user_id is required")
	case e.Timestamp.IsZero():
		return errors.New("timestamp is required")
	}
	return nil
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
	var ce cloudevents.Event
	if err := json.Unmarshal(body, &ce); err != nil {
		return ce, TaskEvent{}, fmt.Errorf("events: not a cloud event: %w", err)
	}
	var te TaskEvent
	if err := json.Unmarshal(ce.Data(), &te); err != nil {
		return ce, te, fmt.Errorf("events: bad task event data: %w", err)
	}
	if err := te.Validate(); err != nil {
		return ce, te, fmt.Errorf("events: %w", err)
	}
	return ce, te, nil
}

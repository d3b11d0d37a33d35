package task

import (
	"time"

	"github.com/evolution-todo/todo/internal/events"
)

// Event describes a change of t, of type eventType, that happened at `at`:
// the data of its event on the task-events topic.
func (t Task) Event(eventType string, at time.Time) events.TaskEvent {
	tags := t.Tags
	if tags == nil {
		tags = []string{}
	}
	return events.TaskEvent{
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

		Version:          t.Version,
		SeriesID:         t.SeriesID,
		RecurrenceAnchor: t.RecurrenceAnchor,
		RRule:            t.RRule,
		RepeatFrom:       string(t.RepeatFrom),
		Reminders:        EventReminders(t.Reminders),
		LastInSeries:     t.LastInSeries,
		SeriesIndex:      t.SeriesIndex,
		Skipped:          t.Skipped,
	}
}

// EventReminders are reminders as events carry them.
func EventReminders(rs []ReminderSpec) []events.ReminderSpec {
	out := make([]events.ReminderSpec, 0, len(rs))
	for _, r := range rs {
		var e events.ReminderSpec
		if r.Before != nil {
			e.Before = r.Before.String()
		}
		if r.At != nil {
			u := r.At.UTC()
			e.At = &u
		}
		out = append(out, e)
	}
	return out
}

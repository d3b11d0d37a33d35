package consumer

import (
	"context"
	"errors"

	"github.com/evolution-todo/todo/internal/events"
)

// TaskEvents adapts h to deliveries of task-events: the data (under
// "data", as the spec's fields always are) is decoded and validated, and a
// malformed event is dropped before h sees it. Types this version does not
// know reach h too (audit-service logs every event); h may Ignore them.
func TaskEvents(h func(ctx context.Context, d *Delivery, e events.TaskEvent) error) Handler {
	return func(ctx context.Context, d *Delivery) error {
		e, err := events.TaskEventOf(d.CloudEvent)
		if err != nil {
			return Permanent(err)
		}
		d.Type = e.EventType
		d.KnownType(events.KnownTaskEventType(e.EventType))
		d.Log("task_id", e.TaskID, "user_id", e.UserID)
		return h(ctx, d, e)
	}
}

// Reminders adapts h to deliveries of the reminders topic: a malformed
// ReminderDue is dropped, and an event of a type this version does not
// know is acknowledged and counted without reaching h.
func Reminders(h func(ctx context.Context, d *Delivery, e events.ReminderEvent) error) Handler {
	return func(ctx context.Context, d *Delivery) error {
		e, err := events.ReminderEventOf(d.CloudEvent)
		if errors.Is(err, events.ErrUnknownEventType) {
			d.Type = e.EventType
			d.Ignore()
			return nil
		}
		if err != nil {
			return Permanentf("reminder: %w", err)
		}
		d.Type = e.EventType
		d.KnownType(true)
		d.Log("task_id", e.TaskID, "user_id", e.UserID)
		return h(ctx, d, e)
	}
}

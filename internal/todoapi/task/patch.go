package task

import "time"

// Field is one optional field of a Patch: Set is true when the client sent
// the field (possibly as null, which decodes to the zero Value).
type Field[T any] struct {
	Set   bool
	Value T
}

// Some returns a Field that is set to v.
func Some[T any](v T) Field[T] { return Field[T]{Set: true, Value: v} }

// Patch is a partial change to a task. Fields that are not Set are left as
// they are. It is used both to create a task (applied to Defaults) and to
// update one.
type Patch struct {
	Title       Field[string]
	Description Field[string]
	Priority    Field[Priority]
	Tags        Field[[]string]
	DueAt       Field[*time.Time]
	ReminderAt  Field[*time.Time]
	Recurrence  Field[Recurrence]
	Timezone    Field[string]
}

// Defaults is the task a create request starts from.
func Defaults() Task {
	return Task{Priority: PriorityNone, Recurrence: RecurrenceNone, Timezone: "UTC", Tags: []string{}}
}

// Apply returns t with p applied, normalised and validated. It does not touch
// identity, ownership, completion or timestamps.
//
// The recurrence anchor (the series' first due time, or its first reminder
// when it has no due date) moves only when the time it comes from changes:
// a due_at that differs from the task's at the stored precision
// (microseconds) re-anchors the series on the new due_at; so does, for a task
// without due date, a changed reminder_at. Re-sending the same due_at with
// other fields, as a form that sends whole objects does, keeps the anchor, so
// a monthly series on the 31st stays on the 31st.
func (p Patch) Apply(t Task) (Task, error) {
	dueChanged := p.DueAt.Set && !sameInstant(p.DueAt.Value, t.DueAt)
	reminderChanged := p.ReminderAt.Set && !sameInstant(p.ReminderAt.Value, t.ReminderAt)
	if p.Title.Set {
		t.Title = p.Title.Value
	}
	if p.Description.Set {
		t.Description = p.Description.Value
	}
	if p.Priority.Set {
		t.Priority = p.Priority.Value
	}
	if p.Tags.Set {
		t.Tags = p.Tags.Value
	}
	if p.DueAt.Set {
		t.DueAt = p.DueAt.Value
	}
	if p.ReminderAt.Set {
		t.ReminderAt = p.ReminderAt.Value
	}
	if p.Recurrence.Set {
		t.Recurrence = p.Recurrence.Value
	}
	if p.Timezone.Set {
		t.Timezone = p.Timezone.Value
	}
	switch {
	case dueChanged && t.DueAt != nil:
		t.RecurrenceAnchor = t.DueAt
	case t.DueAt == nil && (dueChanged || reminderChanged):
		t.RecurrenceAnchor = t.ReminderAt
	}
	return Normalize(t)
}

// sameInstant reports whether a and b are the same time at the precision
// that is stored (microseconds), or both nil.
func sameInstant(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
}

package task

import (
	"testing"
	"time"
)

// The recurrence anchor moves only when the time it comes from changes.
func TestApplyAnchor(t *testing.T) {
	jan31 := time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC)
	feb28 := time.Date(2027, 2, 28, 12, 0, 0, 0, time.UTC)
	rem := time.Date(2027, 2, 28, 11, 0, 0, 0, time.UTC)
	// A task of a monthly series anchored on Jan 31, now due Feb 28.
	// (ReminderAt is what the store reads as the next pending reminder.)
	series := Task{Title: "rent", Recurrence: RecurrenceMonthly, Timezone: "UTC", Tags: []string{},
		DueAt: &feb28, ReminderAt: &rem, Reminders: []ReminderSpec{{At: &rem}}, RecurrenceAnchor: &jan31}
	// A task without due date whose series runs on its reminder.
	reminderOnly := Task{Title: "water", Recurrence: RecurrenceDaily, Timezone: "UTC", Tags: []string{},
		ReminderAt: &rem, Reminders: []ReminderSpec{{At: &rem}}, RecurrenceAnchor: &jan31}
	at := func(v time.Time) *time.Time { return &v }
	tests := []struct {
		name  string
		base  Task
		patch Patch
		want  *time.Time
	}{
		{"same due_at with a new title keeps the anchor", series,
			Patch{Title: Some("rent!"), DueAt: Some(at(feb28))}, &jan31},
		{"same due_at in another zone keeps the anchor", series,
			Patch{Title: Some("rent!"), DueAt: Some(at(feb28.In(time.FixedZone("X", -5*3600))))}, &jan31},
		{"same due_at with nanoseconds below the stored microseconds keeps the anchor", series,
			Patch{DueAt: Some(at(feb28.Add(999 * time.Nanosecond)))}, &jan31},
		{"due_at one microsecond later re-anchors", series,
			Patch{DueAt: Some(at(feb28.Add(time.Microsecond)))}, at(feb28.Add(time.Microsecond))},
		{"a changed due_at re-anchors", series,
			Patch{DueAt: Some(at(feb28.AddDate(0, 0, 3)))}, at(feb28.AddDate(0, 0, 3))},
		{"no due_at sent keeps the anchor", series,
			Patch{Title: Some("rent!")}, &jan31},
		{"a changed reminder keeps the anchor of a series with due date", series,
			Patch{ReminderAt: Some(at(rem.Add(-time.Hour)))}, &jan31},
		{"clearing due_at anchors on the reminder", series,
			Patch{DueAt: Some[*time.Time](nil)}, &rem},
		{"same null due_at and same reminder keep the anchor", reminderOnly,
			Patch{Title: Some("w"), DueAt: Some[*time.Time](nil), ReminderAt: Some(at(rem))}, &jan31},
		{"a changed reminder re-anchors a series without due date", reminderOnly,
			Patch{ReminderAt: Some(at(rem.Add(time.Hour)))}, at(rem.Add(time.Hour))},
		{"clearing the reminder of a series without due date clears the anchor", reminderOnly,
			Patch{ReminderAt: Some[*time.Time](nil)}, nil},
		{"created with a due date: anchored on it", Defaults(),
			Patch{Title: Some("x"), DueAt: Some(at(jan31)), ReminderAt: Some(at(rem))}, &jan31},
		{"created with only a reminder: anchored on it", Defaults(),
			Patch{Title: Some("x"), ReminderAt: Some(at(rem))}, &rem},
		{"created with neither: no anchor", Defaults(),
			Patch{Title: Some("x")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.patch.Apply(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && got.RecurrenceAnchor != nil:
				t.Errorf("anchor = %v, want none", *got.RecurrenceAnchor)
			case tt.want != nil && (got.RecurrenceAnchor == nil || !got.RecurrenceAnchor.Equal(*tt.want)):
				t.Errorf("anchor = %v, want %v", got.RecurrenceAnchor, *tt.want)
			}
		})
	}
}

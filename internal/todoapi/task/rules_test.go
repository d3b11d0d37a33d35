package task

import (
	"errors"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/recurrence"
)

func ptr[T any](v T) *T { return &v }

func before(s string) ReminderSpec {
	b, err := recurrence.ParseBefore(s)
	if err != nil {
		panic(err)
	}
	return ReminderSpec{Before: &b}
}

func field(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	return ""
}

// A rule moves the due time to its first occurrence at or after it, keeps
// the time given as the series' DTSTART (its anchor), and says when the
// first is the last one.
func TestApplyRRule(t *testing.T) {
	wed := time.Date(2027, 1, 6, 9, 0, 0, 0, time.UTC) // a Wednesday
	base := Defaults()
	got, err := Patch{Title: Some("gym"), DueAt: Some(&wed), RRule: Some(ptr("freq=weekly;byday=th,mo"))}.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	thu := time.Date(2027, 1, 7, 9, 0, 0, 0, time.UTC)
	if !got.DueAt.Equal(thu) || !got.RecurrenceAnchor.Equal(wed) || *got.RRule != "FREQ=WEEKLY;BYDAY=MO,TH" ||
		got.Recurrence != RecurrenceWeekly || got.SeriesIndex != 1 || got.LastInSeries {
		t.Errorf("got due %v anchor %v rule %q recurrence %s index %d last %v", got.DueAt, got.RecurrenceAnchor, *got.RRule,
			got.Recurrence, got.SeriesIndex, got.LastInSeries)
	}
	// COUNT=1: the first is the last, and reads recurrence none.
	got, err = Patch{Title: Some("once"), DueAt: Some(&wed), RRule: Some(ptr("FREQ=DAILY;COUNT=1"))}.Apply(base)
	if err != nil || !got.LastInSeries || got.Recurrence != RecurrenceNone || got.RRule == nil {
		t.Errorf("COUNT=1: %+v, %v", got, err)
	}
	// Writing back the recurrence it reads changes nothing.
	again, err := Patch{Recurrence: Some(RecurrenceNone)}.Apply(got)
	if err != nil || again.RRule == nil || !again.LastInSeries {
		t.Errorf("writing back recurrence none: %+v, %v", again, err)
	}
	// Another simple recurrence replaces the rule.
	daily, err := Patch{Recurrence: Some(RecurrenceDaily)}.Apply(got)
	if err != nil || daily.RRule != nil || daily.Recurrence != RecurrenceDaily || daily.LastInSeries {
		t.Errorf("recurrence daily over a rule: %+v, %v", daily, err)
	}
	for _, tt := range []struct {
		name  string
		patch Patch
		field string
	}{
		{"a rule without due time or reminder", Patch{Title: Some("x"), RRule: Some(ptr("FREQ=DAILY"))}, "rrule"},
		{"a rule without occurrence", Patch{Title: Some("x"), DueAt: Some(&wed), RRule: Some(ptr("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"))}, "rrule"},
		{"a bad rule names it", Patch{Title: Some("x"), DueAt: Some(&wed), RRule: Some(ptr("FREQ=HOURLY"))}, "rrule"},
		{"another recurrence than the rule's", Patch{Title: Some("x"), DueAt: Some(&wed), RRule: Some(ptr("FREQ=DAILY")), Recurrence: Some(RecurrenceWeekly)}, "recurrence"},
		{"reminders and reminder_at", Patch{Title: Some("x"), Reminders: Some([]ReminderSpec{}), ReminderAt: Some(&wed)}, "reminders"},
		{"a relative reminder without due time", Patch{Title: Some("x"), Reminders: Some([]ReminderSpec{before("PT15M")})}, "reminders"},
		{"eleven reminders", Patch{Title: Some("x"), DueAt: Some(&wed), Reminders: Some(make([]ReminderSpec, 11))}, "reminders"},
		{"an unknown repeat_from", Patch{Title: Some("x"), RepeatFrom: Some(RepeatFrom("now"))}, "repeat_from"},
	} {
		if _, err := tt.patch.Apply(base); field(err) != tt.field {
			t.Errorf("%s: %v, want a refusal of %s", tt.name, err, tt.field)
		}
	}
}

// reminder_at stays what it was for old clients.
func TestApplyReminderAtCompatibility(t *testing.T) {
	due := time.Date(2027, 1, 6, 9, 0, 0, 0, time.UTC)
	at := due.Add(-time.Hour)
	tk := Defaults()
	tk.Title, tk.DueAt = "x", &due
	tk.Reminders = []ReminderSpec{before("PT15M"), before("P1D"), {At: &at}}
	next := due.Add(-15 * time.Minute)
	tk.ReminderAt = &next // what the task reads: its next pending reminder
	got, err := Patch{ReminderAt: Some(&next), Title: Some("y")}.Apply(tk)
	if err != nil || len(got.Reminders) != 3 {
		t.Errorf("writing back reminder_at wiped reminders: %+v, %v", got.Reminders, err)
	}
	other := due.Add(-2 * time.Hour)
	got, err = Patch{ReminderAt: Some(&other)}.Apply(tk)
	if err != nil || len(got.Reminders) != 1 || got.Reminders[0].At == nil || !got.Reminders[0].At.Equal(other) {
		t.Errorf("a new reminder_at: %+v, %v", got.Reminders, err)
	}
	got, err = Patch{ReminderAt: Some[*time.Time](nil)}.Apply(tk)
	if err != nil || len(got.Reminders) != 0 {
		t.Errorf("reminder_at null: %+v, %v", got.Reminders, err)
	}
	// Clearing the due time drops the relative reminders, keeps the others.
	got, err = Patch{DueAt: Some[*time.Time](nil)}.Apply(tk)
	if err != nil || len(got.Reminders) != 1 || got.Reminders[0].At == nil {
		t.Errorf("due cleared: %+v, %v", got.Reminders, err)
	}
}

func TestReminderTimes(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	due := time.Date(2027, 3, 28, 9, 0, 0, 0, berlin) // the day after the spring change
	at := time.Date(2027, 3, 28, 8, 45, 0, 0, berlin)
	tk := Task{DueAt: &due, Timezone: "Europe/Berlin",
		Reminders: []ReminderSpec{before("P1D"), before("PT15M"), {At: &at}, before("PT0S")}}
	got := ReminderTimes(tk)
	want := []time.Time{time.Date(2027, 3, 27, 9, 0, 0, 0, berlin), at, due}
	if len(got) != len(want) {
		t.Fatalf("%d times, want %d (the 15-minute and the absolute one are one): %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if !got[i].At.Equal(w) {
			t.Errorf("time %d: %v, want %v", i, got[i].At.In(berlin), w)
		}
	}
	if got[1].Before == nil || got[1].Before.String() != "PT15M" {
		t.Errorf("the merged one keeps its relative reminder: %+v", got[1])
	}
}

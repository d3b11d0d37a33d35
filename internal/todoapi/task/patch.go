package task

import (
	"errors"
	"slices"
	"time"

	"github.com/evolution-todo/todo/internal/recurrence"
)

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
	Reminders   Field[[]ReminderSpec]
	Recurrence  Field[Recurrence]
	RRule       Field[*string]
	RepeatFrom  Field[RepeatFrom]
	Timezone    Field[string]

	// Series is set only by todo-api's internal route, for the next
	// occurrence of a series, whose place in the series recurring-service
	// computed: it is taken as it is, not recomputed from the rule.
	Series Field[SeriesPlace]
}

// SeriesPlace is an occurrence's place in its series.
type SeriesPlace struct {
	Anchor time.Time // the series' DTSTART
	Index  int
	Last   bool
}

// Defaults is the task a create request starts from.
func Defaults() Task {
	return Task{Priority: PriorityNone, Recurrence: RecurrenceNone, RepeatFrom: recurrence.FromDue, Timezone: "UTC",
		Tags: []string{}, Reminders: []ReminderSpec{}, SeriesIndex: 1}
}

// Apply returns t with p applied, normalised and validated. It does not touch
// identity, ownership, completion or timestamps.
//
// The recurrence anchor (the series' first due time, or its first
// absolute reminder when it has no due date) moves only when the time it
// comes from changes: a due_at that differs from the task's at the stored
// precision (microseconds) re-anchors the series on the new due_at; so
// does, for a task without due date, a change of its reminders. Re-sending
// the same due_at with other fields, as a form that sends whole objects
// does, keeps the anchor, so a monthly series on the 31st stays on the
// 31st.
//
// With an RRULE the anchor is DTSTART: when the rule, the due time, the
// anchor or the time zone changes, the due time moves to the rule's first
// occurrence at or after it, the occurrence is the series' first, and it
// is the last when the rule has no second (COUNT=1, or UNTIL before it).
//
// reminder_at stays what it was for clients that know no other reminder:
// writing the value the task reads (its next pending reminder) changes
// nothing; writing another sets one absolute reminder in place of all;
// writing null removes them.
func (p Patch) Apply(t Task) (Task, error) {
	if p.ReminderAt.Set && p.Reminders.Set {
		return t, invalid("reminders", "give reminders or reminder_at, not both")
	}
	if v := p.ReminderAt.Value; p.ReminderAt.Set && v != nil && !TimeInRange(*v) {
		return t, invalid("reminder_at", "must be a time in the years 0001 to 9999 UTC")
	}
	var rule *recurrence.RRule
	if p.RRule.Set && p.RRule.Value != nil {
		r, err := recurrence.ParseRRule(*p.RRule.Value)
		if err != nil {
			return t, invalid("rrule", "%s", err.Error())
		}
		rule = &r
		if p.Recurrence.Set && p.Recurrence.Value != r.Freq.Rule() && p.Recurrence.Value != t.Recurrence {
			return t, invalid("recurrence", "must be %s (the rrule's frequency), or left out", r.Freq.Rule())
		}
	}
	t.Reminders = slices.Clone(t.Reminders)
	oldAnchor := anchorOf(t)
	dueChanged := p.DueAt.Set && !sameInstant(p.DueAt.Value, t.DueAt)
	remindersChanged := false
	ruleChanged := false
	zoneChanged := p.Timezone.Set && p.Timezone.Value != t.Timezone

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
	if p.Timezone.Set {
		t.Timezone = p.Timezone.Value
	}
	if p.ReminderAt.Set && !sameInstant(p.ReminderAt.Value, t.ReminderAt) {
		t.Reminders = nil
		if v := p.ReminderAt.Value; v != nil {
			t.Reminders = []ReminderSpec{{At: v}}
		}
		remindersChanged = true
	}
	if p.Reminders.Set {
		remindersChanged = !slices.EqualFunc(p.Reminders.Value, t.Reminders, sameSpec)
		t.Reminders = p.Reminders.Value
	}
	if t.DueAt == nil && !p.Reminders.Set {
		// A reminder before the due time cannot outlive it.
		t.Reminders = AbsoluteOnly(t.Reminders)
	}
	switch {
	case rule != nil:
		canon := rule.String()
		ruleChanged = t.RRule == nil || *t.RRule != canon
		t.RRule, t.Recurrence = &canon, rule.Freq.Rule()
	case p.RRule.Set: // null: no rule
		ruleChanged = t.RRule != nil
		t.RRule = nil
		t.Recurrence = RecurrenceNone
		if p.Recurrence.Set {
			t.Recurrence = p.Recurrence.Value
		}
	case p.Recurrence.Set && p.Recurrence.Value != t.Recurrence:
		ruleChanged = t.RRule != nil
		t.RRule, t.Recurrence = nil, p.Recurrence.Value
	}
	if p.RepeatFrom.Set {
		t.RepeatFrom = p.RepeatFrom.Value
	}
	if t.RRule == nil {
		t.LastInSeries = false
	}

	switch {
	case dueChanged && t.DueAt != nil:
		t.RecurrenceAnchor = t.DueAt
	case t.DueAt == nil && (dueChanged || remindersChanged):
		t.RecurrenceAnchor = anchorOf(t)
	}
	if ruleChanged || zoneChanged {
		t.RecurrenceAnchor = anchorOf(t)
	}
	if p.Series.Set {
		s := p.Series.Value
		t.RecurrenceAnchor, t.SeriesIndex, t.LastInSeries = &s.Anchor, s.Index, s.Last
	} else if t.RRule != nil && (ruleChanged || zoneChanged || dueChanged || !sameInstant(oldAnchor, anchorOf(t))) {
		if err := startSeries(&t); err != nil {
			return t, err
		}
	} else if ruleChanged || dueChanged {
		t.SeriesIndex = 1
	}
	if t.RRule != nil && t.LastInSeries {
		t.Recurrence = RecurrenceNone // the spec's reading: nothing follows
	}
	return Normalize(t)
}

// anchorOf is where t's series starts: its due time, else its earliest
// absolute reminder.
func anchorOf(t Task) *time.Time {
	if t.DueAt != nil {
		return t.DueAt
	}
	var first *time.Time
	for _, r := range t.Reminders {
		if r.At != nil && (first == nil || r.At.Before(*first)) {
			first = r.At
		}
	}
	return first
}

// startSeries anchors t's rule at its due time (else its first absolute
// reminder), DTSTART: the due time (or that reminder) moves to the rule's
// first occurrence at or after it, which is the series' first occurrence.
func startSeries(t *Task) error {
	rule, err := recurrence.ParseRRule(*t.RRule)
	if err != nil {
		return invalid("rrule", "%s", err.Error())
	}
	start := anchorOf(*t)
	if start == nil {
		return invalid("rrule", "a rule needs a due time (or an absolute reminder) to start from")
	}
	if err := checkTimezone(t.Timezone); err != nil {
		return err
	}
	s, err := recurrence.NewSeries(rule, *start, LoadZone(t.Timezone))
	if errors.Is(err, recurrence.ErrNoOccurrence) {
		return invalid("rrule", "has no occurrence within %d years of the due time", recurrence.Horizon)
	}
	if err != nil {
		return invalid("rrule", "%s", err.Error())
	}
	first, _ := s.First()
	if t.DueAt != nil {
		t.DueAt = &first
	} else {
		for i, r := range t.Reminders {
			if r.At != nil && r.At.Equal(*start) {
				t.Reminders[i] = ReminderSpec{At: &first}
				break
			}
		}
	}
	// The series stays anchored at DTSTART, not at First: First may be in
	// a DST gap, where its instant does not show DTSTART's time of day.
	_, _, more := s.After(first)
	dtstart := start.UTC()
	t.RecurrenceAnchor, t.SeriesIndex, t.LastInSeries = &dtstart, 1, !more
	return nil
}

// SameReminder reports whether a and b are the same reminder.
func SameReminder(a, b ReminderSpec) bool { return sameSpec(a, b) }

func sameSpec(a, b ReminderSpec) bool {
	switch {
	case a.At != nil && b.At != nil:
		return a.At.Equal(*b.At)
	case a.Before != nil && b.Before != nil:
		return *a.Before == *b.Before
	}
	return false
}

// sameInstant reports whether a and b are the same time at the precision
// that is stored (microseconds), or both nil.
func sameInstant(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UTC().Truncate(time.Microsecond).Equal(b.UTC().Truncate(time.Microsecond))
}

package task

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/evolution-todo/todo/internal/recurrence"
)

// MaxReminders bounds a task's reminders.
const MaxReminders = 10

// SetGrace is how far in the past a reminder's time may be when it is set
// and still be sent: a reminder "now" or a minute ago is sent at the next
// sweep; one that had long passed when it was set (a day before a task due
// in an hour) is not.
const SetGrace = 5 * time.Minute

// ReminderSpec is one reminder of a task: either Before its due time (an
// ISO 8601 duration) or At an absolute time. On the wire:
// {"before": "PT15M"} or {"at": "2027-01-01T09:00:00Z"}.
type ReminderSpec struct {
	Before *recurrence.Before
	At     *time.Time
}

type reminderJSON struct {
	Before *string    `json:"before,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (r ReminderSpec) MarshalJSON() ([]byte, error) {
	var j reminderJSON
	if r.Before != nil {
		s := r.Before.String()
		j.Before = &s
	}
	if r.At != nil {
		u := r.At.UTC()
		j.At = &u
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler: exactly one of before and at.
func (r *ReminderSpec) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return errors.New(`each reminder must be an object: {"before": "PT15M"} or {"at": "<RFC 3339 time>"}`)
	}
	for k := range raw {
		if k != "before" && k != "at" {
			return errors.New(`a reminder has "before" or "at", not ` + jsonQuote(k))
		}
	}
	if len(raw) != 1 {
		return errors.New(`each reminder has exactly one of "before" and "at"`)
	}
	if v, ok := raw["before"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errors.New(`"before" must be a string such as "PT15M"`)
		}
		d, err := recurrence.ParseBefore(s)
		if err != nil {
			return errors.New(`"before" ` + err.Error())
		}
		*r = ReminderSpec{Before: &d}
		return nil
	}
	var s string
	if err := json.Unmarshal(raw["at"], &s); err != nil {
		return errors.New(`"at" must be an RFC 3339 time string`)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errors.New(`"at" must be an RFC 3339 time such as 2027-01-01T09:00:00Z`)
	}
	*r = ReminderSpec{At: &t}
	return nil
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Relative reports whether r is before the due time.
func (r ReminderSpec) Relative() bool { return r.Before != nil }

// ReminderTime is one instant a task's reminders come to, and the
// relative reminder it comes from (nil for an absolute one).
type ReminderTime struct {
	At     time.Time
	Before *recurrence.Before
}

// ReminderTimes are the instants of t's reminders, in order, each once
// (two reminders at the same instant are one): relative ones from t's due
// time in its time zone. A relative reminder without a due time has none.
func ReminderTimes(t Task) []ReminderTime {
	var loc *time.Location
	var out []ReminderTime
	for _, r := range t.Reminders {
		var rt ReminderTime
		switch {
		case r.At != nil:
			rt.At = r.At.UTC().Truncate(time.Microsecond)
		case r.Before != nil && t.DueAt != nil:
			if loc == nil {
				loc = LoadZone(t.Timezone)
			}
			b := *r.Before
			rt.At, rt.Before = b.From(*t.DueAt, loc).Truncate(time.Microsecond), &b
		default:
			continue
		}
		if i := slices.IndexFunc(out, func(o ReminderTime) bool { return o.At.Equal(rt.At) }); i >= 0 {
			if out[i].Before == nil {
				out[i].Before = rt.Before
			}
			continue
		}
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b ReminderTime) int { return a.At.Compare(b.At) })
	return out
}

// LoadZone is the location of a time zone name that IsTimezone accepts
// (UTC for any other, which validation never lets through).
func LoadZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// AbsoluteOnly are t's reminders without the relative ones.
func AbsoluteOnly(rs []ReminderSpec) []ReminderSpec {
	return slices.DeleteFunc(slices.Clone(rs), ReminderSpec.Relative)
}

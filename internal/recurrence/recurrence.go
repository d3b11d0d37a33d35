// Package recurrence computes when the next occurrence of a recurring task is due. It is pure: no I/O, no clock.
//
// All calendar arithmetic is done in the task's local wall-clock time (its IANA
// time zone) and results are returned in UTC.
//
// Daylight-saving changes: the result is built with time.Date in the task's
// zone. When the wanted local wall-clock time does not exist (it falls in the
// gap of a spring-forward change) or is ambiguous (it occurs twice on a
// fall-back change), the instant is whatever time.Date picks for it; the
// package does not adjust it further. (With the current Go implementation a
// time in a gap is interpreted with the offset in effect before the change, so
// 02:30 on a Europe/Berlin spring-forward day becomes 03:30 CEST.)
package recurrence

import (
	"errors"
	"fmt"
	"time"
)

// Rule is how often a task repeats: "daily", "weekly", "monthly" or "yearly" ("none" is not a rule).
type Rule string

// Next returns the due time of the occurrence after the one due at `due`.
// loc is the task's IANA time zone: periods are added in local wall-clock time, so a daily 09:00 Europe/Berlin task stays at 09:00 local across DST changes.
// anchor is the due time of the series' first occurrence (the day of month / month and day the series was created on); for monthly and yearly rules the day is taken from the anchor and clamped to the length of the target month, so Jan 31 -> Feb 28 (Feb 29 in leap years) -> Mar 31 -> Apr 30 -> May 31, and a yearly Feb 29 -> Feb 28 in non-leap years -> Feb 29 again in the next leap year. If anchor is the zero time, use due as the anchor.
// The wall-clock time of day (hour, minute, second, nanosecond) of the result is that of `due` in loc.
// The result is returned in UTC.
// An unknown rule returns an error; so does a nil loc.
func Next(due, anchor time.Time, rule Rule, loc *time.Location) (time.Time, error) {
	if loc == nil {
		return time.Time{}, errors.New("recurrence: nil location")
	}
	if anchor.IsZero() {
		anchor = due
	}
	d := due.In(loc)
	a := anchor.In(loc)
	year, month, day := d.Date()
	hour, minute, sec := d.Clock()
	nsec := d.Nanosecond()

	switch rule {
	case "daily":
		day++
	case "weekly":
		day += 7
	case "monthly":
		// Normalise (year, month+1), e.g. December -> January of next year.
		t := time.Date(year, month+1, 1, 0, 0, 0, 0, time.UTC)
		year, month = t.Year(), t.Month()
		day = min(a.Day(), daysIn(year, month))
	case "yearly":
		year++
		month = a.Month()
		day = min(a.Day(), daysIn(year, month))
	default:
		return time.Time{}, fmt.Errorf("recurrence: unknown rule %q", string(rule))
	}
	// time.Date normalises day overflow (daily/weekly) and keeps the
	// wall-clock time of day in loc.
	return time.Date(year, month, day, hour, minute, sec, nsec, loc).UTC(), nil
}

// daysIn returns the number of days in the given month of the given year
// (Gregorian calendar, so 1900 is not a leap year and 2000 is).
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Occurrence describes the next task of a series.
type Occurrence struct {
	DueAt      time.Time  // UTC
	ReminderAt *time.Time // UTC; nil when the completed task had no reminder
	Anchor     time.Time  // UTC; the anchor to carry into the next task
}

// NextOccurrence computes the next task of a series from a completed one.
// base is the completed task's due time, or its completion time when it had no due date (dueAt == nil).
// The reminder keeps the same offset from the due time: next reminder = next due + (reminderAt - base).
// anchor: the completed task's anchor; when nil (or the zero time), base is the anchor.
func NextOccurrence(dueAt, reminderAt, anchor *time.Time, completedAt time.Time, rule Rule, loc *time.Location) (Occurrence, error) {
	base := completedAt
	if dueAt != nil {
		base = *dueAt
	}
	anc := base
	if anchor != nil && !anchor.IsZero() {
		anc = *anchor
	}
	next, err := Next(base, anc, rule, loc)
	if err != nil {
		return Occurrence{}, err
	}
	occ := Occurrence{DueAt: next, Anchor: anc.UTC()}
	if reminderAt != nil {
		r := next.Add(reminderAt.Sub(base)).UTC()
		occ.ReminderAt = &r
	}
	return occ, nil
}

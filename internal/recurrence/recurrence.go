// Package recurrence computes when the next occurrence of a recurring task is
// due. It is pure: no I/O, no clock.
//
// A series is defined by its anchor (the due time of its first occurrence, or
// the reminder time of a series without a due date), its rule and its IANA
// time zone. Occurrence k (k = 0 is the anchor's own slot) is defined from the
// anchor alone, never from the occurrence before it:
//
//   - daily: the anchor's local date + k days;
//   - weekly: the anchor's local date + 7k days;
//   - monthly: the anchor's local year and month + k months, on the anchor's
//     day of month clamped to the length of that month (Jan 31 -> Feb 28 or
//     29 -> Mar 31 -> Apr 30);
//   - yearly: the anchor's year + k, on the anchor's month and day clamped
//     (Feb 29 -> Feb 28 in non-leap years -> Feb 29 again in leap years);
//
// always at the anchor's local wall-clock time of day (hour, minute, second,
// nanosecond). So a daily 02:30 Europe/Berlin series is at 03:30 on
// 2027-03-28, where 02:30 does not exist, and at 02:30 again on 2027-03-29.
//
// Local times that do not exist or exist twice are resolved as RFC 5545
// (iCalendar, section 3.3.5) does: a time in the gap of a forward change is
// read with the UTC offset in effect before the gap (02:30 in Berlin on a
// spring-forward day is 03:30 CEST; 02:30 in New York is 03:30 EDT; 00:30 in
// America/Santiago on the day its clocks skip from 00:00 to 01:00 is 01:30),
// and a time that occurs twice is the first of the two (01:30 on a New York
// fall-back day is 01:30 EDT). Time zones whose calendar skipped a whole day
// (Pacific/Apia has no 2011-12-30) give that day's occurrence the same
// instant as the next day's; the series counts that instant once.
//
// Next(prev, anchor) is the first occurrence strictly after prev, so a
// series computed step by step (each next from the previous one, as the
// recurring service does) equals the series computed from the anchor alone;
// a test checks this for every zone of Go's embedded tz database and every
// rule. Results are in UTC.
package recurrence

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rule is how often a task repeats. The values below are the only ones: a
// task's recurrence is one of them everywhere (the API, the database's CHECK,
// the events), and tests compare the OpenAPI enum and the CHECK with Rules.
type Rule string

// The rules, as they are spelled on the wire and in the database. None is a
// valid recurrence but not a schedule: it has no occurrences, and Next,
// Nth and NextOccurrence refuse it.
const (
	None    Rule = "none"
	Daily   Rule = "daily"
	Weekly  Rule = "weekly"
	Monthly Rule = "monthly"
	Yearly  Rule = "yearly"
)

// Rules returns every rule, None first, in the order the API documents them.
func Rules() []Rule { return []Rule{None, Daily, Weekly, Monthly, Yearly} }

// Expected says what a recurrence must be: "must be one of none, daily, ...".
// It is the message of Parse's error.
func Expected() string {
	names := make([]string, 0, len(Rules()))
	for _, r := range Rules() {
		names = append(names, string(r))
	}
	return "must be one of " + strings.Join(names, ", ")
}

// Parse returns the rule s names (case-sensitive), or an error saying
// Expected.
func Parse(s string) (Rule, error) {
	if r := Rule(s); slices.Contains(Rules(), r) {
		return r, nil
	}
	return "", errors.New(Expected())
}

// Repeats reports whether r is a known rule other than None: one that has
// occurrences.
func (r Rule) Repeats() bool { return r != None && slices.Contains(Rules(), r) }

// schedule is a series: its anchor's local date and clock, its rule and zone.
type schedule struct {
	rule                 Rule
	year                 int
	month                time.Month
	day                  int
	hour, min, sec, nano int
	loc                  *time.Location
}

func newSchedule(anchor time.Time, rule Rule, loc *time.Location) (schedule, error) {
	if loc == nil {
		return schedule{}, errors.New("recurrence: nil location")
	}
	if !rule.Repeats() {
		return schedule{}, fmt.Errorf("recurrence: unknown rule %q", string(rule))
	}
	w := localWall(anchor.In(loc))
	s := schedule{rule: rule, loc: loc, nano: w.Nanosecond()}
	s.year, s.month, s.day = w.Date()
	s.hour, s.min, s.sec = w.Clock()
	return s, nil
}

// date is the local calendar date of occurrence k.
func (s schedule) date(k int) (int, time.Month, int) {
	switch s.rule {
	case Daily, Weekly:
		n := k
		if s.rule == Weekly {
			n = 7 * k
		}
		return time.Date(s.year, s.month, s.day+n, 0, 0, 0, 0, time.UTC).Date()
	case Monthly:
		first := time.Date(s.year, s.month+time.Month(k), 1, 0, 0, 0, 0, time.UTC)
		y, m := first.Year(), first.Month()
		return y, m, min(s.day, daysIn(y, m))
	default: // Yearly
		y := s.year + k
		return y, s.month, min(s.day, daysIn(y, s.month))
	}
}

// at is occurrence k.
func (s schedule) at(k int) time.Time {
	y, m, d := s.date(k)
	return wallTime(y, m, d, s.hour, s.min, s.sec, s.nano, s.loc)
}

// index estimates the k of the occurrence on t's local date (exact up to a
// step or two around time changes; callers adjust).
func (s schedule) index(t time.Time) int {
	y, m, d := localWall(t.In(s.loc)).Date()
	days := func(y int, m time.Month, d int) int {
		return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	}
	switch s.rule {
	case Daily:
		return days(y, m, d) - days(s.year, s.month, s.day)
	case Weekly:
		n := days(y, m, d) - days(s.year, s.month, s.day)
		if n < 0 {
			return (n - 6) / 7
		}
		return n / 7
	case Monthly:
		return (y-s.year)*12 + int(m) - int(s.month)
	default: // Yearly
		return y - s.year
	}
}

// after is the first occurrence strictly after t. Occurrences never go
// backwards (no offset change in the tz database exceeds one day), so the
// search starts at the estimate, steps back while the occurrence is after
// t, then forward until it is.
func (s schedule) after(t time.Time) time.Time {
	k := s.index(t)
	for s.at(k).After(t) {
		k--
	}
	for {
		k++
		if v := s.at(k); v.After(t) {
			return v.UTC()
		}
	}
}

// Nth returns occurrence k of the series anchored at anchor (k = 0 is the
// anchor's own slot; negative k are before it), in UTC. An unknown rule or a
// nil loc returns an error. Two consecutive occurrences may be equal only
// where the zone skipped a calendar day (see the package documentation).
func Nth(anchor time.Time, k int, rule Rule, loc *time.Location) (time.Time, error) {
	s, err := newSchedule(anchor, rule, loc)
	if err != nil {
		return time.Time{}, err
	}
	return s.at(k).UTC(), nil
}

// Next returns the first occurrence of the series anchored at anchor that is
// strictly after prev, in UTC. loc is the series' IANA time zone. The
// occurrence's local date comes from the rule and the anchor's date, its
// local time of day from the anchor's (see the package documentation); prev
// only says where in the series we are. If anchor is the zero time, prev is
// the anchor. An unknown rule returns an error; so does a nil loc.
func Next(prev, anchor time.Time, rule Rule, loc *time.Location) (time.Time, error) {
	if anchor.IsZero() {
		anchor = prev
	}
	s, err := newSchedule(anchor, rule, loc)
	if err != nil {
		return time.Time{}, err
	}
	return s.after(prev), nil
}

// maxOffsetJump bounds the difference of two UTC offsets of one zone (the
// tz database has offsets within about ±16 h).
const maxOffsetJump = 36 * time.Hour

// wallTime is the instant of a local date and time of day in loc, with
// RFC 5545's reading of local times that do not exist (the offset before the
// gap) or exist twice (the first).
func wallTime(y int, mo time.Month, d, hh, mi, ss, ns int, loc *time.Location) time.Time {
	naive := time.Date(y, mo, d, hh, mi, ss, ns, time.UTC)
	t := time.Date(y, mo, d, hh, mi, ss, ns, loc)
	if start, _ := t.ZoneBounds(); localWall(t).Equal(naive) && (start.IsZero() || t.Sub(start) > maxOffsetJump) {
		// It exists, and its zone period began too long ago for an earlier
		// period to show the same wall clock.
		return t
	}
	offs := offsetsNear(naive, loc)
	// The wall time exists: the earliest instant that shows it.
	var best time.Time
	for _, off := range offs {
		if c := naive.Add(-off).In(loc); localWall(c).Equal(naive) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// It falls in a gap: read it with the offset b in effect before the gap.
	// That is the offset for which naive-b lies after the change (offset
	// a > b there) and naive-a before it (offset b there).
	for _, b := range offs {
		c := naive.Add(-b).In(loc)
		a := offset(c)
		if a > b && offset(naive.Add(-a).In(loc)) == b && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	return t // not reached with a consistent zone
}

func offset(t time.Time) time.Duration {
	_, off := t.Zone()
	return time.Duration(off) * time.Second
}

// offsetsNear lists the UTC offsets loc uses within maxOffsetJump of the
// instant naive.
func offsetsNear(naive time.Time, loc *time.Location) []time.Duration {
	var offs []time.Duration
	last := naive.Add(maxOffsetJump)
	for u, i := naive.Add(-maxOffsetJump), 0; i < 128 && !u.After(last); i++ {
		l := u.In(loc)
		if off := offset(l); !slices.Contains(offs, off) {
			offs = append(offs, off)
		}
		_, end := l.ZoneBounds()
		switch {
		case end.IsZero():
			return offs
		case end.After(u):
			u = end
		default:
			// Go (1.26) ends the last period of a leap year, in the range of
			// a zone's POSIX rule, one day early; step over that day.
			u = u.Add(time.Hour)
		}
	}
	return offs
}

// localWall is t's local wall clock in its location, as a UTC time (one
// zone lookup, where Date and Clock would take one each).
func localWall(t time.Time) time.Time {
	return t.UTC().Add(offset(t))
}

// daysIn returns the number of days in the given month of the given year
// (Gregorian calendar, so 1900 is not a leap year and 2000 is).
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Occurrence describes the next task of a series.
type Occurrence struct {
	DueAt      *time.Time // UTC; nil when the series has no due date and runs on its reminder
	ReminderAt *time.Time // UTC; nil when the completed task had no reminder
	Anchor     time.Time  // UTC; the anchor to carry into the next task
}

// NextOccurrence computes the next task of a series from a completed one.
// anchor is the completed task's anchor (nil or the zero time: see below);
// the result carries it on unchanged.
//
//   - With a due date: the next due time is Next(dueAt, anchor), the anchor
//     defaulting to dueAt; the reminder, if any, keeps its offset from the due
//     time: next reminder = next due + (reminderAt - dueAt). Completing late
//     does not skip occurrences.
//   - Without a due date but with a reminder, the series runs on its
//     reminder: the anchor defaults to reminderAt, the next task has no due
//     date, and its reminder is the first occurrence strictly after both
//     reminderAt and completedAt, so it is never before the completion and
//     keeps the reminder's local time of day.
//   - With neither: the next due time is Next(completedAt, anchor), the
//     anchor defaulting to completedAt (one period after the completion).
func NextOccurrence(dueAt, reminderAt, anchor *time.Time, completedAt time.Time, rule Rule, loc *time.Location) (Occurrence, error) {
	anchorOr := func(def time.Time) time.Time {
		if anchor != nil && !anchor.IsZero() {
			return *anchor
		}
		return def
	}
	switch {
	case dueAt != nil:
		anc := anchorOr(*dueAt)
		next, err := Next(*dueAt, anc, rule, loc)
		if err != nil {
			return Occurrence{}, err
		}
		occ := Occurrence{DueAt: &next, Anchor: anc.UTC()}
		if reminderAt != nil {
			r := next.Add(reminderAt.Sub(*dueAt)).UTC()
			occ.ReminderAt = &r
		}
		return occ, nil
	case reminderAt != nil:
		anc := anchorOr(*reminderAt)
		after := *reminderAt
		if completedAt.After(after) {
			after = completedAt
		}
		next, err := Next(after, anc, rule, loc)
		if err != nil {
			return Occurrence{}, err
		}
		return Occurrence{ReminderAt: &next, Anchor: anc.UTC()}, nil
	default:
		anc := anchorOr(completedAt)
		next, err := Next(completedAt, anc, rule, loc)
		if err != nil {
			return Occurrence{}, err
		}
		return Occurrence{DueAt: &next, Anchor: anc.UTC()}, nil
	}
}

// NextFromCompletion is the simple rule's next occurrence when it repeats
// from completion: the rule anchored on the local date of closedAt, at
// anchor's local time of day, and its first occurrence on a later date (a
// day, a week, a month or a year after the day of closing). In UTC.
func NextFromCompletion(rule Rule, anchor, closedAt time.Time, loc *time.Location) (time.Time, error) {
	if loc == nil {
		return time.Time{}, errors.New("recurrence: nil location")
	}
	a, c := localWall(anchor.In(loc)), localWall(closedAt.In(loc))
	y, m, d := c.Date()
	start := wallTime(y, m, d, a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), loc)
	s, err := newSchedule(start, rule, loc)
	if err != nil {
		return time.Time{}, err
	}
	return s.after(wallTime(y, m, d, 23, 59, 59, 999999999, loc)), nil
}

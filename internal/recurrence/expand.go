package recurrence

import (
	"errors"
	"slices"
	"time"
)

// Series is an RRule anchored at DTSTART in an IANA time zone: the
// occurrences RFC 5545 expands it to, each at DTSTART's local time of day
// (read as the package documentation says where that time does not exist
// or exists twice), on the dates the rule chooses, from DTSTART on. A date
// that does not exist is skipped (BYMONTHDAY=31 has no February; that is
// the rule, unlike the simple monthly repeat, which clamps).
//
// DTSTART is not an occurrence unless the rule chooses it (as
// python-dateutil reads RFC 5545): First is the first occurrence at or
// after it. COUNT counts occurrences from First; UNTIL is an instant,
// inclusive.
type Series struct {
	rule                 RRule
	start                time.Time // DTSTART, in loc
	loc                  *time.Location
	day0                 int // DTSTART's local date, in days since the epoch
	hour, min, sec, nano int
}

// Horizon bounds the search for an occurrence: a rule with none within
// this many years of DTSTART is refused, and no search looks further
// ahead than this from where it starts.
const Horizon = 100

// ErrNoOccurrence is a rule that has no occurrence within Horizon years
// of its DTSTART, such as FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30.
var ErrNoOccurrence = errors.New("the rule has no occurrence within 100 years of its start")

// NewSeries anchors rule at dtstart in loc. It fails for a nil loc, and
// with ErrNoOccurrence when the rule has no occurrence within Horizon years.
func NewSeries(rule RRule, dtstart time.Time, loc *time.Location) (*Series, error) {
	if loc == nil {
		return nil, errors.New("recurrence: nil location")
	}
	if rule.Freq == 0 || rule.Interval < 1 {
		return nil, errors.New("recurrence: the rule has no FREQ or INTERVAL")
	}
	w := localWall(dtstart.In(loc))
	s := &Series{rule: rule, start: dtstart.In(loc), loc: loc, day0: epochDay(w.Date()), nano: w.Nanosecond()}
	s.hour, s.min, s.sec = w.Clock()
	if _, ok := s.First(); !ok {
		return nil, ErrNoOccurrence
	}
	return s, nil
}

// Rule is the series' rule.
func (s *Series) Rule() RRule { return s.rule }

// First is the first occurrence at or after DTSTART, in UTC; false when
// the series has none (UNTIL before it, or none within Horizon years).
func (s *Series) First() (time.Time, bool) {
	t, _, ok := s.scan(s.start.Add(-time.Nanosecond), 1)
	return t, ok
}

// After is the first occurrence strictly after t, in UTC, and, for a rule
// with COUNT, the number COUNT counts it as (0 without COUNT); false when
// there is none: the series ended (COUNT, UNTIL, or the year 9999 in UTC),
// or none within Horizon years after t.
func (s *Series) After(t time.Time) (time.Time, int, bool) {
	at, n, ok := s.scan(t, 1)
	if s.rule.Count == 0 {
		n = 0
	}
	return at, n, ok
}

// Occurrences are up to n occurrences at or after from, in UTC.
func (s *Series) Occurrences(from time.Time, n int) []time.Time {
	var out []time.Time
	at := from.Add(-time.Nanosecond)
	for len(out) < n {
		t, _, ok := s.scan(at, 1)
		if !ok {
			break
		}
		out = append(out, t)
		at = t
	}
	return out
}

// scan finds the k-th occurrence strictly after t (k >= 1), at most
// Horizon years after t and in the years up to 9999 UTC (what RFC 3339
// and the API can hold), and, with COUNT, its number as COUNT counts it:
// then it counts from the first period; otherwise it starts at the period
// of t.
func (s *Series) scan(t time.Time, k int) (time.Time, int, bool) {
	r := s.rule
	horizon := t.AddDate(Horizon, 0, 0)
	p := 0
	if r.Count == 0 {
		p = max(0, s.periodOf(t)-1)
	}
	limit := p + s.periodsIn(Horizon) + 1
	if r.Count > 0 {
		limit = max(limit, s.periodOf(t)+s.periodsIn(Horizon)+1)
	}
	n := 0
	for ; p <= limit; p++ {
		dates := s.candidates(p)
		if len(dates) == 0 {
			continue
		}
		if len(r.BySetPos) > 0 {
			dates = setPos(dates, r.BySetPos)
		}
		for _, d := range dates {
			if d < s.day0 {
				continue // before DTSTART's date: not in the series
			}
			at := s.start // on its own date, DTSTART is the occurrence's instant
			if d != s.day0 {
				at = s.at(d)
			}
			if !r.Until.IsZero() && at.After(r.Until) || at.UTC().Year() > 9999 {
				return time.Time{}, 0, false
			}
			n++
			if r.Count > 0 && n > r.Count {
				return time.Time{}, 0, false
			}
			if at.After(t) {
				if at.After(horizon) {
					return time.Time{}, 0, false
				}
				if k--; k == 0 {
					return at.UTC(), n, true
				}
			}
		}
		if y, _, _ := civil(s.periodStartDay(p)); y > 9999 {
			break
		}
	}
	return time.Time{}, 0, false
}

// at is the instant of local date d (days since the epoch) at DTSTART's
// time of day.
func (s *Series) at(d int) time.Time {
	y, m, day := civil(d)
	return wallTime(y, m, day, s.hour, s.min, s.sec, s.nano, s.loc)
}

// periodsIn is how many periods of the rule span years years.
func (s *Series) periodsIn(years int) int {
	var n int
	switch s.rule.Freq {
	case FreqDaily:
		n = years * 366
	case FreqWeekly:
		n = years * 53
	case FreqMonthly:
		n = years * 12
	default:
		n = years
	}
	return n/s.rule.Interval + 1
}

// week0 is the first day (in days since the epoch) of DTSTART's week,
// weeks starting on WKST.
func (s *Series) week0() int {
	wd := weekdayOf(s.day0)
	return s.day0 - (int(wd)-int(s.rule.Wkst)+7)%7
}

// periodStartDay is the first local date of period p.
func (s *Series) periodStartDay(p int) int {
	y, m, _ := civil(s.day0)
	step := p * s.rule.Interval
	switch s.rule.Freq {
	case FreqDaily:
		return s.day0 + step
	case FreqWeekly:
		return s.week0() + 7*step
	case FreqMonthly:
		return epochDay(y, m+time.Month(step), 1)
	default:
		return epochDay(y+step, time.January, 1)
	}
}

// periodOf is the period that holds t's local date (or the last one that
// starts before it).
func (s *Series) periodOf(t time.Time) int {
	w := localWall(t.In(s.loc))
	d := epochDay(w.Date())
	y0, m0, _ := civil(s.day0)
	y, m, _ := w.Date()
	var units int
	switch s.rule.Freq {
	case FreqDaily:
		units = d - s.day0
	case FreqWeekly:
		units = floorDiv(d-s.week0(), 7)
	case FreqMonthly:
		units = (y-y0)*12 + int(m) - int(m0)
	default:
		units = y - y0
	}
	return floorDiv(units, s.rule.Interval)
}

// candidates are the dates of period p the rule chooses, in order, before
// BYSETPOS: RFC 5545's expansion and limits of BYMONTH, BYMONTHDAY and
// BYDAY for the rule's frequency, defaulting to DTSTART's day where no
// part chooses the day.
func (s *Series) candidates(p int) []int {
	r := s.rule
	first := s.periodStartDay(p)
	var days []int
	switch r.Freq {
	case FreqDaily:
		days = []int{first}
	case FreqWeekly:
		days = make([]int, 7)
		for i := range days {
			days[i] = first + i
		}
	case FreqMonthly:
		y, m, _ := civil(first)
		n := daysIn(y, m)
		days = make([]int, n)
		for i := range days {
			days[i] = first + i
		}
	default:
		y, _, _ := civil(first)
		n := epochDay(y+1, time.January, 1) - first
		days = make([]int, n)
		for i := range days {
			days[i] = first + i
		}
	}
	out := days[:0:0]
	for _, d := range days {
		if s.chooses(d) {
			out = append(out, d)
		}
	}
	return out
}

// chooses says whether the rule picks local date d within its period.
func (s *Series) chooses(d int) bool {
	r := s.rule
	y, m, day := civil(d)
	wd := weekdayOf(d)
	_, m0, day0 := civil(s.day0)
	if len(r.ByMonth) > 0 && !slices.Contains(r.ByMonth, m) {
		return false
	}
	noDay := len(r.ByMonthDay) == 0 && len(r.ByDay) == 0
	switch r.Freq {
	case FreqWeekly:
		if len(r.ByDay) == 0 {
			return wd == weekdayOf(s.day0)
		}
	case FreqMonthly:
		if noDay && day != day0 {
			return false
		}
	case FreqYearly:
		if noDay {
			if len(r.ByMonth) == 0 && m != m0 {
				return false
			}
			if day != day0 {
				return false
			}
		}
	}
	if len(r.ByMonthDay) > 0 {
		n := daysIn(y, m)
		ok := false
		for _, md := range r.ByMonthDay {
			if md == day || (md < 0 && n+md+1 == day) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.ByDay) > 0 {
		ok := false
		for _, b := range r.ByDay {
			if b.Day != wd {
				continue
			}
			if b.N == 0 || s.nth(d, b.N) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// nth says whether date d is the n-th (from the end when n < 0) of its
// weekday within its month (MONTHLY rules, and YEARLY rules with BYMONTH)
// or its year (YEARLY rules without BYMONTH).
func (s *Series) nth(d, n int) bool {
	y, m, day := civil(d)
	var from, to int // the scope's first and last day
	if s.rule.Freq == FreqMonthly || len(s.rule.ByMonth) > 0 {
		from = d - day + 1
		to = from + daysIn(y, m) - 1
	} else {
		from = epochDay(y, time.January, 1)
		to = epochDay(y+1, time.January, 1) - 1
	}
	if n > 0 {
		return (d-from)/7 == n-1
	}
	return (to-d)/7 == -n-1
}

// setPos applies BYSETPOS to a period's candidates.
func setPos(dates []int, pos []int) []int {
	var out []int
	for _, p := range pos {
		i := p - 1
		if p < 0 {
			i = len(dates) + p
		}
		if i >= 0 && i < len(dates) && !slices.Contains(out, dates[i]) {
			out = append(out, dates[i])
		}
	}
	slices.Sort(out)
	return out
}

// epochDay is a civil date as days since 1970-01-01 (proleptic
// Gregorian; month and day may overflow, as time.Date allows).
func epochDay(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// civil is the date of a day since the epoch.
func civil(d int) (int, time.Month, int) {
	return time.Unix(int64(d)*86400, 0).UTC().Date()
}

func weekdayOf(d int) time.Weekday { return time.Weekday((d%7 + 11) % 7) } // 1970-01-01 was a Thursday

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// RepeatFrom says where a series goes on from after an occurrence is
// closed (completed or skipped).
type RepeatFrom string

// The two ways a series goes on.
const (
	// FromDue keeps the series' schedule: the next occurrence is the
	// rule's next after the closed one, however late it was closed.
	FromDue RepeatFrom = "due"
	// FromCompletion applies the rule from the moment of closing: the next
	// occurrence is the rule's first on a later local date than that
	// moment, at the anchor's time of day ("every 3 days" after a late
	// completion is 3 days after it; "every Monday" is the next Monday).
	FromCompletion RepeatFrom = "completion"
)

// RepeatFroms are the values of RepeatFrom, the default first.
func RepeatFroms() []RepeatFrom { return []RepeatFrom{FromDue, FromCompletion} }

// Step is the next occurrence of a series after a closed one.
type Step struct {
	At     time.Time // UTC
	Index  int       // its number in the series, 1 for the first
	Anchor time.Time // the DTSTART the series goes on from, UTC
	Last   bool      // no occurrence follows it (COUNT or UNTIL)
}

// NextByRule is the occurrence that follows the closed occurrence prev
// (number index, 1-based) of the series of rule anchored at anchor
// (DTSTART) in loc, closed at closedAt; false when the series has ended.
func NextByRule(rule RRule, anchor, prev time.Time, index int, closedAt time.Time, from RepeatFrom, loc *time.Location) (Step, bool, error) {
	if from != FromCompletion {
		s, err := NewSeries(rule, anchor, loc)
		if errors.Is(err, ErrNoOccurrence) {
			return Step{}, false, nil
		}
		if err != nil {
			return Step{}, false, err
		}
		next, _, ok := s.After(prev)
		if !ok {
			return Step{}, false, nil
		}
		_, _, more := s.After(next)
		return Step{At: next, Index: index + 1, Anchor: anchor.UTC(), Last: !more}, true, nil
	}
	if rule.Count > 0 && index >= rule.Count {
		return Step{}, false, nil
	}
	// The rule from the closing day, at the anchor's time of day; COUNT is
	// the series' (index), not this DTSTART's.
	a := localWall(anchor.In(loc))
	c := localWall(closedAt.In(loc))
	cy, cm, cd := c.Date()
	start := wallTime(cy, cm, cd, a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), loc)
	free := rule
	free.Count = 0
	s, err := NewSeries(free, start, loc)
	if errors.Is(err, ErrNoOccurrence) {
		return Step{}, false, nil
	}
	if err != nil {
		return Step{}, false, err
	}
	endOfDay := wallTime(cy, cm, cd, 23, 59, 59, 999999999, loc)
	next, _, ok := s.After(endOfDay)
	if !ok {
		return Step{}, false, nil
	}
	_, _, more := s.After(next)
	last := !more || (rule.Count > 0 && index+1 >= rule.Count)
	// The anchor stays: it keeps DTSTART's time of day, which an
	// occurrence in a DST gap does not show.
	return Step{At: next, Index: index + 1, Anchor: anchor.UTC(), Last: last}, true, nil
}

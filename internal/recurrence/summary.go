package recurrence

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summary says in plain English what the series does, such as "every 2
// weeks on Monday and Thursday, until 31 March 2027" or "every month on
// the last Friday, 12 times". Days the rule leaves to DTSTART are named
// from it ("every month on the 7th"); UNTIL is a date in the series' zone.
func (s *Series) Summary() string {
	r := s.rule
	_, m0, d0 := civil(s.day0)
	var b strings.Builder
	unit := map[Freq]string{FreqDaily: "day", FreqWeekly: "week", FreqMonthly: "month", FreqYearly: "year"}[r.Freq]
	weekdays := isWeekdays(r.ByDay)
	switch {
	case weekdays && r.Interval == 1 && len(r.BySetPos) == 0 && (r.Freq == FreqDaily || r.Freq == FreqWeekly):
		b.WriteString("every weekday")
	case r.Interval == 1:
		b.WriteString("every " + unit)
	default:
		fmt.Fprintf(&b, "every %d %ss", r.Interval, unit)
	}
	days := func() string { // the plain weekdays of BYDAY
		names := make([]string, 0, len(r.ByDay))
		sorted := slices.Clone(r.ByDay)
		slices.SortFunc(sorted, func(a, b WeekdayNum) int { return mondayFirst(a.Day) - mondayFirst(b.Day) })
		for _, d := range sorted {
			names = append(names, d.Day.String())
		}
		return and(names)
	}
	onDays := func(scope string) {
		switch {
		case len(r.BySetPos) > 0:
			what := days()
			if weekdays {
				what = "weekday"
			} else if len(r.ByDay) == 0 {
				what = "chosen day"
			}
			pos := make([]string, len(r.BySetPos))
			for i, p := range sortedSigned(r.BySetPos) {
				pos[i] = ordinal(p)
			}
			fmt.Fprintf(&b, " on the %s %s%s", and(pos), what, scope)
		case len(r.ByMonthDay) > 0 && len(r.ByDay) == 0:
			ds := make([]string, len(r.ByMonthDay))
			for i, d := range sortedSigned(r.ByMonthDay) {
				ds[i] = ordinal(d) + " day"
				if d > 0 {
					ds[i] = ordinal(d)
				}
			}
			fmt.Fprintf(&b, " on the %s%s", and(ds), scope)
		case len(r.ByDay) > 0 && r.ByDay[0].N != 0:
			nd := make([]string, len(r.ByDay))
			for i, d := range r.ByDay {
				nd[i] = ordinal(d.N) + " " + d.Day.String()
			}
			fmt.Fprintf(&b, " on the %s%s", and(nd), scope)
		case len(r.ByDay) > 0:
			if !weekdays || r.Interval > 1 || (r.Freq != FreqDaily && r.Freq != FreqWeekly) {
				fmt.Fprintf(&b, " on %s", days())
			}
			if len(r.ByMonthDay) > 0 {
				ds := make([]string, len(r.ByMonthDay))
				for i, d := range sortedSigned(r.ByMonthDay) {
					ds[i] = ordinal(d)
				}
				fmt.Fprintf(&b, " that fall on the %s", and(ds))
			}
			b.WriteString(scope)
		}
	}
	months := make([]string, 0, len(r.ByMonth))
	for _, m := range slices.Sorted(slices.Values(r.ByMonth)) {
		months = append(months, m.String())
	}
	noDay := len(r.ByMonthDay) == 0 && len(r.ByDay) == 0
	switch r.Freq {
	case FreqDaily:
		onDays("")
	case FreqWeekly:
		if noDay {
			fmt.Fprintf(&b, " on %s", weekdayOf(s.day0))
		}
		onDays("")
	case FreqMonthly:
		if noDay {
			fmt.Fprintf(&b, " on the %s", ordinal(d0))
		}
		onDays("")
	case FreqYearly:
		switch {
		case noDay && len(months) == 0:
			fmt.Fprintf(&b, " on %d %s", d0, m0)
		case noDay:
			fmt.Fprintf(&b, " on the %s of %s", ordinal(d0), and(months))
		case len(months) > 0:
			onDays(" of " + and(months))
		default:
			onDays(" of the year")
		}
		months = nil // named already
	}
	if len(months) > 0 {
		b.WriteString(" in " + and(months))
	}
	switch {
	case r.Count == 1:
		b.WriteString(", once")
	case r.Count > 0:
		fmt.Fprintf(&b, ", %d times", r.Count)
	case !r.Until.IsZero():
		b.WriteString(", until " + r.Until.In(s.loc).Format("2 January 2006"))
	}
	return b.String()
}

func isWeekdays(days []WeekdayNum) bool {
	if len(days) != 5 {
		return false
	}
	for _, d := range days {
		if d.N != 0 || d.Day == time.Saturday || d.Day == time.Sunday {
			return false
		}
	}
	return true
}

// ordinal is 1st, 2nd, 3rd, 11th, ...; last, 2nd to last, ... for
// negative n.
func ordinal(n int) string {
	switch {
	case n == -1:
		return "last"
	case n < 0:
		return ordinal(-n) + " to last"
	}
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}

// and joins "a", "a and b", "a, b and c".
func and(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

package recurrence

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Freq is an RRULE's frequency: the unit of its periods.
type Freq int

// The frequencies an RRULE may have here (RFC 5545 has also SECONDLY,
// MINUTELY and HOURLY, which a todo does not need).
const (
	FreqDaily Freq = iota + 1
	FreqWeekly
	FreqMonthly
	FreqYearly
)

var freqNames = map[Freq]string{FreqDaily: "DAILY", FreqWeekly: "WEEKLY", FreqMonthly: "MONTHLY", FreqYearly: "YEARLY"}

func (f Freq) String() string { return freqNames[f] }

// Rule is the simple rule of the same unit: how an RRULE reads as the
// spec's recurrence field.
func (f Freq) Rule() Rule {
	return map[Freq]Rule{FreqDaily: Daily, FreqWeekly: Weekly, FreqMonthly: Monthly, FreqYearly: Yearly}[f]
}

// WeekdayNum is one BYDAY entry: a weekday, and for MONTHLY and YEARLY
// rules optionally its ordinal in the month or year (1 the first, -1 the
// last; 0: every such weekday).
type WeekdayNum struct {
	N   int
	Day time.Weekday
}

// Bounds of an RRULE's parts.
const (
	MaxInterval   = 1000
	MaxCount      = 10000
	MaxRRuleBytes = 512
	maxListItems  = 64
)

// RRule is an RFC 5545 recurrence rule (the RRULE property's value,
// without "RRULE:"), restricted to what a todo's repeats need: FREQ DAILY,
// WEEKLY, MONTHLY or YEARLY; INTERVAL; BYDAY (with ordinals for MONTHLY and
// YEARLY); BYMONTHDAY (negative from the month's end); BYMONTH; BYSETPOS;
// COUNT or UNTIL; WKST. The time of day of every occurrence is DTSTART's
// (no BYHOUR, BYMINUTE, BYSECOND).
type RRule struct {
	Freq       Freq
	Interval   int // 1 or more
	ByDay      []WeekdayNum
	ByMonthDay []int
	ByMonth    []time.Month
	BySetPos   []int
	Count      int       // 0: no COUNT
	Until      time.Time // zero: no UNTIL; else an instant, inclusive
	Wkst       time.Weekday
}

// PartError is an RRULE refused because of one of its parts.
type PartError struct {
	Part string // FREQ, BYDAY, ... or "RRULE" for the whole
	Msg  string
}

func (e *PartError) Error() string { return e.Part + ": " + e.Msg }

func partErr(part, format string, args ...any) error {
	return &PartError{Part: part, Msg: fmt.Sprintf(format, args...)}
}

var weekdayCodes = map[string]time.Weekday{"MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday,
	"TH": time.Thursday, "FR": time.Friday, "SA": time.Saturday, "SU": time.Sunday}

var weekdayCode = map[time.Weekday]string{time.Monday: "MO", time.Tuesday: "TU", time.Wednesday: "WE",
	time.Thursday: "TH", time.Friday: "FR", time.Saturday: "SA", time.Sunday: "SU"}

// untilLayout is UNTIL's only accepted form: a UTC date-time.
const untilLayout = "20060102T150405Z"

// ParseRRule reads an RRULE value such as
// "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270331T225959Z". Part names
// and values are case-insensitive; a part may appear once. The error is a
// *PartError naming the part: an unknown or unsupported one, a value out of
// range, or a combination RFC 5545 forbids (COUNT with UNTIL, BYMONTHDAY
// with WEEKLY, an ordinal BYDAY with DAILY or WEEKLY, BYSETPOS alone).
func ParseRRule(s string) (RRule, error) {
	r := RRule{Interval: 1, Wkst: time.Monday}
	if len(s) > MaxRRuleBytes {
		return r, partErr("RRULE", "must be at most %d bytes", MaxRRuleBytes)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return r, partErr("RRULE", "is empty; it needs at least FREQ, such as FREQ=WEEKLY")
	}
	if strings.HasPrefix(strings.ToUpper(s), "RRULE:") {
		return r, partErr("RRULE", `give the rule without the "RRULE:" prefix`)
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ";") {
		name, value, ok := strings.Cut(part, "=")
		name = strings.ToUpper(strings.TrimSpace(name))
		value = strings.ToUpper(strings.TrimSpace(value))
		if !ok || name == "" || value == "" {
			return r, partErr("RRULE", "%q is not NAME=VALUE", part)
		}
		if seen[name] {
			return r, partErr(name, "is given twice")
		}
		seen[name] = true
		if err := r.set(name, value); err != nil {
			return r, err
		}
	}
	return r, r.check(seen)
}

func (r *RRule) set(name, value string) error {
	switch name {
	case "FREQ":
		for f, n := range freqNames {
			if n == value {
				r.Freq = f
				return nil
			}
		}
		return partErr(name, "must be one of DAILY, WEEKLY, MONTHLY, YEARLY")
	case "INTERVAL":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > MaxInterval {
			return partErr(name, "must be an integer from 1 to %d", MaxInterval)
		}
		r.Interval = n
	case "COUNT":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > MaxCount {
			return partErr(name, "must be an integer from 1 to %d", MaxCount)
		}
		r.Count = n
	case "UNTIL":
		t, err := time.Parse(untilLayout, value)
		if err != nil {
			return partErr(name, "must be a UTC date-time such as 20270331T225959Z, at most in the year 9999")
		}
		r.Until = t
	case "WKST":
		d, ok := weekdayCodes[value]
		if !ok {
			return partErr(name, "must be one of MO, TU, WE, TH, FR, SA, SU")
		}
		r.Wkst = d
	case "BYDAY":
		return eachItem(name, value, func(item string) error {
			wd, err := parseWeekdayNum(item)
			if err != nil {
				return partErr(name, "%q: %v", item, err)
			}
			if slices.Contains(r.ByDay, wd) {
				return partErr(name, "lists %s twice", item)
			}
			r.ByDay = append(r.ByDay, wd)
			return nil
		})
	case "BYMONTHDAY":
		return eachItem(name, value, func(item string) error {
			n, err := strconv.Atoi(item)
			if err != nil || n == 0 || n < -31 || n > 31 {
				return partErr(name, "%q: must be an integer from 1 to 31 or -31 to -1", item)
			}
			if slices.Contains(r.ByMonthDay, n) {
				return partErr(name, "lists %d twice", n)
			}
			r.ByMonthDay = append(r.ByMonthDay, n)
			return nil
		})
	case "BYMONTH":
		return eachItem(name, value, func(item string) error {
			n, err := strconv.Atoi(item)
			if err != nil || n < 1 || n > 12 {
				return partErr(name, "%q: must be an integer from 1 to 12", item)
			}
			if slices.Contains(r.ByMonth, time.Month(n)) {
				return partErr(name, "lists %d twice", n)
			}
			r.ByMonth = append(r.ByMonth, time.Month(n))
			return nil
		})
	case "BYSETPOS":
		return eachItem(name, value, func(item string) error {
			n, err := strconv.Atoi(item)
			if err != nil || n == 0 || n < -366 || n > 366 {
				return partErr(name, "%q: must be an integer from 1 to 366 or -366 to -1", item)
			}
			if slices.Contains(r.BySetPos, n) {
				return partErr(name, "lists %d twice", n)
			}
			r.BySetPos = append(r.BySetPos, n)
			return nil
		})
	case "BYHOUR", "BYMINUTE", "BYSECOND", "BYYEARDAY", "BYWEEKNO":
		return partErr(name, "is not supported: an occurrence is at DTSTART's time of day (the task's due time), on days chosen by BYDAY, BYMONTHDAY, BYMONTH and BYSETPOS")
	default:
		return partErr(name, "is not a part of a rule here; the parts are FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, BYSETPOS, COUNT, UNTIL and WKST")
	}
	return nil
}

// eachItem calls f on each item of a comma-separated list.
func eachItem(part, list string, f func(string) error) error {
	items := strings.Split(list, ",")
	if len(items) > maxListItems {
		return partErr(part, "lists at most %d values", maxListItems)
	}
	for _, it := range items {
		if it = strings.TrimSpace(it); it == "" {
			return partErr(part, "has an empty value")
		}
		if err := f(it); err != nil {
			return err
		}
	}
	return nil
}

// parseWeekdayNum reads a BYDAY item: [+|-][1-53]<MO..SU>.
func parseWeekdayNum(s string) (WeekdayNum, error) {
	if len(s) < 2 {
		return WeekdayNum{}, errors.New("must be a weekday such as MO, optionally with an ordinal such as 2TU or -1FR")
	}
	day, ok := weekdayCodes[s[len(s)-2:]]
	if !ok {
		return WeekdayNum{}, errors.New("must end in one of MO, TU, WE, TH, FR, SA, SU")
	}
	w := WeekdayNum{Day: day}
	if num := s[:len(s)-2]; num != "" {
		n, err := strconv.Atoi(num)
		if err != nil || n == 0 || n < -53 || n > 53 {
			return w, errors.New("its ordinal must be from 1 to 53 or -53 to -1")
		}
		w.N = n
	}
	return w, nil
}

// check refuses what no single part shows: a missing FREQ and the
// combinations RFC 5545 forbids.
func (r *RRule) check(seen map[string]bool) error {
	if r.Freq == 0 {
		return partErr("FREQ", "is required: DAILY, WEEKLY, MONTHLY or YEARLY")
	}
	if seen["COUNT"] && seen["UNTIL"] {
		return partErr("UNTIL", "may not be given with COUNT (RFC 5545): end a rule by one or the other")
	}
	if len(r.ByMonthDay) > 0 && r.Freq == FreqWeekly {
		return partErr("BYMONTHDAY", "may not be given with FREQ=WEEKLY (RFC 5545)")
	}
	plain, ordinal := 0, 0
	for _, d := range r.ByDay {
		if d.N == 0 {
			plain++
			continue
		}
		ordinal++
		switch {
		case r.Freq == FreqDaily || r.Freq == FreqWeekly:
			return partErr("BYDAY", "an ordinal such as %d%s is only for MONTHLY and YEARLY rules (RFC 5545)", d.N, weekdayCode[d.Day])
		case r.Freq == FreqMonthly && (d.N > 5 || d.N < -5):
			return partErr("BYDAY", "a month has at most 5 of each weekday: %d%s", d.N, weekdayCode[d.Day])
		}
	}
	if plain > 0 && ordinal > 0 {
		// RFC 5545 reads a mix as a union, popular implementations as an
		// intersection: refuse it rather than pick one reading.
		return partErr("BYDAY", "mixes weekdays with and without an ordinal; use one kind per rule")
	}
	if len(r.BySetPos) > 0 && len(r.ByDay) == 0 && len(r.ByMonthDay) == 0 && len(r.ByMonth) == 0 {
		return partErr("BYSETPOS", "needs another BYxxx part to choose from (RFC 5545)")
	}
	return nil
}

// String is the rule in its canonical form: parts in a fixed order,
// INTERVAL and WKST only when not the defaults, lists sorted.
func (r RRule) String() string {
	var b strings.Builder
	b.WriteString("FREQ=" + r.Freq.String())
	if r.Interval > 1 {
		fmt.Fprintf(&b, ";INTERVAL=%d", r.Interval)
	}
	if r.Wkst != time.Monday {
		b.WriteString(";WKST=" + weekdayCode[r.Wkst])
	}
	if len(r.ByMonth) > 0 {
		ms := slices.Sorted(slices.Values(r.ByMonth))
		b.WriteString(";BYMONTH=" + joinInts(len(ms), func(i int) int { return int(ms[i]) }))
	}
	if len(r.ByMonthDay) > 0 {
		ds := sortedSigned(r.ByMonthDay)
		b.WriteString(";BYMONTHDAY=" + joinInts(len(ds), func(i int) int { return ds[i] }))
	}
	if len(r.ByDay) > 0 {
		days := slices.Clone(r.ByDay)
		slices.SortFunc(days, func(a, b WeekdayNum) int {
			if a.N != b.N {
				return signedOrder(a.N) - signedOrder(b.N)
			}
			return mondayFirst(a.Day) - mondayFirst(b.Day)
		})
		parts := make([]string, len(days))
		for i, d := range days {
			parts[i] = weekdayCode[d.Day]
			if d.N != 0 {
				parts[i] = strconv.Itoa(d.N) + parts[i]
			}
		}
		b.WriteString(";BYDAY=" + strings.Join(parts, ","))
	}
	if len(r.BySetPos) > 0 {
		ps := sortedSigned(r.BySetPos)
		b.WriteString(";BYSETPOS=" + joinInts(len(ps), func(i int) int { return ps[i] }))
	}
	if r.Count > 0 {
		fmt.Fprintf(&b, ";COUNT=%d", r.Count)
	}
	if !r.Until.IsZero() {
		b.WriteString(";UNTIL=" + r.Until.UTC().Format(untilLayout))
	}
	return b.String()
}

// signedOrder sorts positive values first, then negative ones from -1 down.
func signedOrder(n int) int {
	if n < 0 {
		return 1000 - n
	}
	return n
}

func sortedSigned(xs []int) []int {
	out := slices.Clone(xs)
	slices.SortFunc(out, func(a, b int) int { return signedOrder(a) - signedOrder(b) })
	return out
}

func mondayFirst(d time.Weekday) int { return (int(d) + 6) % 7 }

func joinInts(n int, at func(int) int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Itoa(at(i))
	}
	return strings.Join(parts, ",")
}

package recurrence

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Before is how long before a due time a reminder is: an ISO 8601
// duration of weeks, days, hours, minutes and seconds ("PT15M", "P1D",
// "P1DT2H", "PT0S"). Weeks and days are calendar days in the task's time
// zone (a day before 09:00 is 09:00 the day before, across a DST change);
// hours, minutes and seconds are exact. Years and months are not taken:
// their length depends on the month.
type Before struct {
	Days  int           // weeks count as 7 days
	Exact time.Duration // hours, minutes, seconds
}

// MaxBeforeDays bounds how long before its due time a reminder may be.
const MaxBeforeDays = 366

// errBefore says what a Before must look like.
var errBefore = errors.New("must be an ISO 8601 duration of weeks, days, hours, minutes and seconds, such as PT15M, P1D or P1DT2H, at most 366 days")

// ParseBefore reads an ISO 8601 duration such as PT15M or P1DT2H.
func ParseBefore(s string) (Before, error) {
	var b Before
	if len(s) > 32 || !strings.HasPrefix(s, "P") || len(s) < 3 {
		return b, errBefore
	}
	rest := s[1:]
	inTime := false
	seen := ""
	for rest != "" {
		if rest[0] == 'T' {
			if inTime || len(rest) == 1 {
				return b, errBefore
			}
			inTime = true
			rest = rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) || i > 7 {
			return b, errBefore
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := rest[i]
		key := string(unit)
		if inTime {
			key = "T" + key
		}
		if strings.Contains(seen, key+",") {
			return b, errBefore
		}
		seen += key + ","
		switch {
		case !inTime && unit == 'W':
			b.Days += 7 * n
		case !inTime && unit == 'D':
			b.Days += n
		case inTime && unit == 'H':
			b.Exact += time.Duration(n) * time.Hour
		case inTime && unit == 'M':
			b.Exact += time.Duration(n) * time.Minute
		case inTime && unit == 'S':
			b.Exact += time.Duration(n) * time.Second
		default:
			return b, errBefore
		}
		rest = rest[i+1:]
	}
	if b.Days > MaxBeforeDays || b.Exact > MaxBeforeDays*24*time.Hour || b.Days*24*int(time.Hour)+int(b.Exact) > MaxBeforeDays*24*int(time.Hour) {
		return b, errBefore
	}
	return b, nil
}

// String is the canonical form: days (never weeks), then the time part;
// "PT0S" for zero.
func (b Before) String() string {
	var s strings.Builder
	s.WriteString("P")
	if b.Days > 0 {
		s.WriteString(strconv.Itoa(b.Days) + "D")
	}
	if b.Exact > 0 {
		s.WriteString("T")
		h := b.Exact / time.Hour
		m := (b.Exact % time.Hour) / time.Minute
		sec := (b.Exact % time.Minute) / time.Second
		if h > 0 {
			s.WriteString(strconv.Itoa(int(h)) + "H")
		}
		if m > 0 {
			s.WriteString(strconv.Itoa(int(m)) + "M")
		}
		if sec > 0 {
			s.WriteString(strconv.Itoa(int(sec)) + "S")
		}
	}
	if b.Days == 0 && b.Exact == 0 {
		return "PT0S"
	}
	return s.String()
}

// From is the instant b before due in loc: the calendar days first, at
// due's local time of day (read as the package documentation says where it
// does not exist), then the exact part. In UTC.
func (b Before) From(due time.Time, loc *time.Location) time.Time {
	t := due
	if b.Days > 0 {
		w := localWall(due.In(loc))
		y, m, d := w.Date()
		t = wallTime(y, m, d-b.Days, w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	}
	return t.Add(-b.Exact).UTC()
}

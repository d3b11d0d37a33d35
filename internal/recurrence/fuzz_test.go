package recurrence

import (
	"testing"
	"time"
)

// Next never panics or hangs, and for a known rule always moves forward, in
// UTC, and the result is an occurrence of the anchor's series: the next one
// after the instant before it is itself.
func FuzzNext(f *testing.F) {
	f.Add(int64(1769846400), int64(1769846400), "monthly", "Europe/Berlin")
	f.Add(int64(1835395200), int64(1835395200), "yearly", "UTC")
	f.Add(int64(1774684800), int64(0), "daily", "America/New_York")
	f.Add(int64(-62135596800), int64(253402300799), "weekly", "Asia/Kolkata")
	f.Add(int64(0), int64(0), "hourly", "UTC")
	f.Fuzz(func(t *testing.T, dueUnix, anchorUnix int64, rule, zone string) {
		// Stay within years 1..9999, which RFC 3339 and PostgreSQL accept.
		const lo, hi = -62135596800, 253402300799 - 2*366*86400
		if dueUnix < lo || dueUnix > hi || anchorUnix < lo || anchorUnix > hi {
			return
		}
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "" || zone == "Local" {
			return
		}
		due, anchor := time.Unix(dueUnix, 0), time.Unix(anchorUnix, 0)
		next, err := Next(due, anchor, Rule(rule), loc)
		switch Rule(rule) {
		case Daily, Weekly, Monthly, Yearly:
		default:
			if err == nil {
				t.Fatalf("rule %q accepted", rule)
			}
			return
		}
		if err != nil {
			t.Fatalf("Next(%v, %v, %s, %s): %v", due, anchor, rule, zone, err)
		}
		if !next.After(due) {
			t.Fatalf("Next(%v, %s, %s) = %v is not after due", due, rule, zone, next)
		}
		if next.Location() != time.UTC {
			t.Fatalf("result not in UTC: %v", next)
		}
		if again, err := Next(next.Add(-time.Nanosecond), anchor, Rule(rule), loc); err != nil || !again.Equal(next) {
			t.Fatalf("Next(%v - 1ns) = %v, %v; want %v", next, again, err, next)
		}
	})
}

package recurrence

import (
	"archive/zip"
	"io"
	"testing"
	"time"
)

// embeddedZones loads every zone of $GOROOT/lib/time/zoneinfo.zip, the
// database that time/tzdata embeds, from that file (not from the host's
// /usr/share/zoneinfo), so the test is the same on every host. Zones whose
// data is byte for byte the same (links such as US/Eastern and
// America/New_York) behave the same, so each distinct data is loaded once,
// under its first name: every zone is covered.
func embeddedZones(t *testing.T) []*time.Location {
	t.Helper()
	zr, err := zip.OpenReader(zoneinfoZip(t))
	if err != nil {
		t.Fatalf("open the embedded tz database: %v", err)
	}
	defer zr.Close()
	var locs []*time.Location
	seen := map[string]bool{}
	names := 0
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		loc, err := time.LoadLocationFromTZData(f.Name, data)
		if err != nil {
			t.Fatalf("zone %s: %v", f.Name, err)
		}
		names++
		if !seen[string(data)] {
			seen[string(data)] = true
			locs = append(locs, loc)
		}
	}
	if names < 500 || len(locs) < 300 {
		t.Fatalf("only %d zones (%d distinct) in the embedded database", names, len(locs))
	}
	t.Logf("%d zones, %d distinct", names, len(locs))
	return locs
}

// transition is a change of UTC offset at instant at.
type transition struct {
	at            time.Time
	before, after time.Duration
}

// transitions lists loc's offset changes in [from, to).
func transitions(loc *time.Location, from, to time.Time) []transition {
	var out []transition
	for u := from; u.Before(to); {
		_, end := u.In(loc).ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		if !end.After(u) {
			// Go ends the last period of a leap year a day early in the
			// range of a POSIX rule; step over it.
			u = u.Add(time.Hour)
			continue
		}
		_, b := end.Add(-time.Second).In(loc).Zone()
		_, a := end.In(loc).Zone()
		if a != b {
			out = append(out, transition{end, time.Duration(b) * time.Second, time.Duration(a) * time.Second})
		}
		u = end
	}
	return out
}

// wallExists reports whether some instant shows the wall clock w (given as
// if in UTC) in loc: any such instant is w minus its own offset, so trying
// every offset that loc uses in the hours around w decides it.
func wallExists(loc *time.Location, w time.Time) bool {
	tried := map[int]bool{}
	for u := w.Add(-20 * time.Hour); !u.After(w.Add(20 * time.Hour)); u = u.Add(10 * time.Minute) {
		_, off := u.In(loc).Zone()
		if tried[off] {
			continue
		}
		tried[off] = true
		if asUTC(w.Add(-time.Duration(off) * time.Second).In(loc)).Equal(w) {
			return true
		}
	}
	return false
}

// asUTC is t's wall clock in its own location, read as a UTC time.
func asUTC(t time.Time) time.Time {
	_, off := t.Zone()
	return t.UTC().Add(time.Duration(off) * time.Second)
}

// case_ is a series to check: an anchor and the rules to run from it.
type case_ struct {
	anchor time.Time
	rules  []Rule
}

var allRules = []Rule{"daily", "weekly", "monthly", "yearly"}

// casesFor are the series tried in loc: every rule from a month end at
// 09:00, a leap day just before midnight and 02:30 on 2027-03-28 (the
// European gap day), and, for each rule, anchors one period before the
// middle and the first minute of the zone's latest gap and overlap (up to
// 2037), so that the series runs into them; plus both instants of the
// overlap's repeated wall clock as anchors. Not short, also the gap and
// overlap before those, and 00:30 on a month's last day.
func casesFor(loc *time.Location, short bool) []case_ {
	var out []case_
	at := func(rules []Rule, y int, m time.Month, d, hh, mm, ss, ns int) {
		out = append(out, case_{time.Date(y, m, d, hh, mm, ss, ns, loc), rules})
	}
	at(allRules, 2024, 1, 31, 9, 0, 0, 0)
	at(allRules, 2024, 2, 29, 23, 59, 59, 999999000)
	at(allRules, 2027, 3, 28, 2, 30, 0, 0)
	if !short {
		at(allRules, 2026, 8, 31, 0, 30, 0, 0)
	}
	ts := transitions(loc, time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2038, 1, 1, 0, 0, 0, 0, time.UTC))
	want := map[bool]int{true: 2, false: 2} // gaps, overlaps
	if short {
		want = map[bool]int{true: 1, false: 1}
	}
	for i := len(ts) - 1; i >= 0; i-- {
		tr := ts[i]
		gap := tr.after > tr.before
		if want[gap] == 0 {
			continue
		}
		want[gap]--
		jump := tr.after - tr.before
		if !gap {
			jump = -jump
		}
		// The first wall-clock time skipped or repeated, and the middle.
		first := tr.at.Add(min(tr.before, tr.after)).UTC()
		for j, w := range []time.Time{first.Add(jump / 2), first} {
			y, m, d := w.Date()
			hh, mm, ss := w.Clock()
			if j == 0 || !short {
				at([]Rule{"daily"}, y, m, d-1, hh, mm, ss, 0)
			}
			at([]Rule{"weekly"}, y, m, d-7, hh, mm, ss, 0)
			at([]Rule{"monthly"}, y, m-1, d, hh, mm, ss, 0)
			at([]Rule{"yearly"}, y-1, m, d, hh, mm, ss, 0)
		}
		if !gap {
			out = append(out, case_{tr.at.Add(-jump / 2), allRules}, case_{tr.at.Add(jump / 2), allRules})
		}
	}
	return out
}

// The property of issue 9: in every zone of the embedded tz database, for
// every rule and a set of anchors around time changes, month ends and
// midnight, the series computed step by step (each Next from the previous
// occurrence, as the recurring service does) equals the series computed
// from the anchor alone (Nth), and each occurrence is on its calendar date
// at the anchor's local time of day, except where that time does not exist
// on that date.
func TestSeriesFromAnchorInEveryZone(t *testing.T) {
	zones := embeddedZones(t)
	// At least 3 years of each rule (40 for yearly).
	steps := map[Rule]int{"daily": 3*366 + 1, "weekly": 3*53 + 1, "monthly": 3*12 + 1, "yearly": 40}
	short := testing.Short()
	for _, loc := range zones {
		t.Run(loc.String(), func(t *testing.T) {
			t.Parallel()
			for _, c := range casesFor(loc, short) {
				anchor := c.anchor.UTC().Truncate(time.Microsecond) // as stored
				for _, r := range c.rules {
					if !checkSeries(t, loc, anchor, r, steps[r]) {
						return
					}
				}
			}
		})
	}
}

// checkSeries checks one series and reports false after its first failure.
func checkSeries(t *testing.T, loc *time.Location, anchor time.Time, rule Rule, steps int) bool {
	t.Helper()
	a := anchor.In(loc)
	ay, am, ad := a.Date()
	ah, amin, as := a.Clock()
	ans := a.Nanosecond()
	fail := func(format string, args ...any) bool {
		t.Errorf("%s, anchor %s (%s): "+format,
			append([]any{rule, a.Format(time.RFC3339Nano), anchor.Format(time.RFC3339Nano)}, args...)...)
		return false
	}
	// The intended local date of occurrence k, computed here on its own.
	date := func(k int) (int, time.Month, int) {
		switch rule {
		case "daily":
			return time.Date(ay, am, ad+k, 0, 0, 0, 0, time.UTC).Date()
		case "weekly":
			return time.Date(ay, am, ad+7*k, 0, 0, 0, 0, time.UTC).Date()
		case "monthly":
			f := time.Date(ay, am+time.Month(k), 1, 0, 0, 0, 0, time.UTC)
			last := time.Date(f.Year(), f.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
			return f.Year(), f.Month(), min(ad, last)
		default:
			last := time.Date(ay+k, am+1, 0, 0, 0, 0, 0, time.UTC).Day()
			return ay + k, am, min(ad, last)
		}
	}
	sched, err := newSchedule(anchor, rule, loc)
	if err != nil {
		return fail("%v", err)
	}
	stepPrev := anchor
	refPrev := anchor
	k := 0
	for i := 1; i < steps; i++ {
		// From the anchor alone: the next k whose occurrence is later than
		// the last one (a skipped calendar day makes two k share an instant).
		var ref time.Time
		for {
			k++
			v := sched.at(k).UTC() // what Nth(anchor, k, rule, loc) returns
			if v.Before(refPrev) {
				return fail("Nth(%d) = %s goes back before %s", k, v, refPrev)
			}
			y, m, d := date(k)
			w := time.Date(y, m, d, ah, amin, as, ans, time.UTC)
			if got := asUTC(v.In(loc)); !got.Equal(w) {
				// Only allowed where the anchor's time does not exist that
				// day; the occurrence is then the first time after it, less
				// than a day later.
				if wallExists(loc, w) {
					return fail("occurrence %d is %s local, want %s (that time exists)", k, got.Format(time.DateTime), w.Format(time.DateTime))
				}
				if !got.After(w) || got.Sub(w) > 24*time.Hour {
					return fail("occurrence %d is %s local, for %s which does not exist", k, got.Format(time.DateTime), w.Format(time.DateTime))
				}
			}
			if v.After(refPrev) {
				ref = v
				break
			}
		}
		next, err := Next(stepPrev, anchor, rule, loc)
		if err != nil {
			return fail("Next: %v", err)
		}
		if !next.Equal(ref) || next.Location() != time.UTC {
			return fail("step %d: Next(%s) = %s (%s local), from the anchor %s (%s local)", i,
				stepPrev.In(loc).Format(time.DateTime), next.Format(time.RFC3339Nano), next.In(loc).Format(time.DateTime),
				ref.Format(time.RFC3339Nano), ref.In(loc).Format(time.DateTime))
		}
		stepPrev, refPrev = next, ref
	}
	return true
}

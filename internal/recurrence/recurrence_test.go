package recurrence

import (
	"slices"
	"testing"
	"time"
)

const layout = "2006-01-02 15:04:05.999999999"

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// local parses a wall-clock time ("2006-01-02 15:04:05[.fraction]") in loc.
func local(t *testing.T, s string, loc *time.Location) time.Time {
	t.Helper()
	v, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		t.Fatalf("ParseInLocation(%q): %v", s, err)
	}
	return v
}

func checkUTC(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name    string
		zone    string
		rule    Rule
		due     string // local wall clock in zone
		anchor  string // local wall clock in zone; "" = zero anchor
		want    string // local wall clock in zone
		wantUTC string // optional RFC 3339 check of the instant
	}{
		{"daily spring-forward Berlin", "Europe/Berlin", "daily", "2026-03-28 09:00:00", "", "2026-03-29 09:00:00", "2026-03-29T07:00:00Z"},
		{"daily fall-back Berlin", "Europe/Berlin", "daily", "2026-10-24 09:00:00", "", "2026-10-25 09:00:00", "2026-10-25T08:00:00Z"},
		{"daily keeps seconds and nanoseconds", "Europe/Berlin", "daily", "2026-03-28 23:59:58.123456789", "", "2026-03-29 23:59:58.123456789", "2026-03-29T21:59:58.123456789Z"},
		{"daily month and year end", "UTC", "daily", "2026-12-31 10:00:00", "", "2027-01-01 10:00:00", "2027-01-01T10:00:00Z"},
		{"weekly spring-forward Berlin", "Europe/Berlin", "weekly", "2026-03-25 09:00:00", "", "2026-04-01 09:00:00", "2026-04-01T07:00:00Z"},
		{"weekly fall-back Berlin", "Europe/Berlin", "weekly", "2026-10-21 09:00:00", "", "2026-10-28 09:00:00", "2026-10-28T08:00:00Z"},
		{"weekly spring-forward New York", "America/New_York", "weekly", "2026-03-02 08:00:00", "", "2026-03-09 08:00:00", "2026-03-09T12:00:00Z"},
		{"monthly leap Jan 31 2028", "UTC", "monthly", "2028-01-31 09:00:00", "", "2028-02-29 09:00:00", ""},
		{"monthly Jan 31 1900 (not leap)", "UTC", "monthly", "1900-01-31 09:00:00", "", "1900-02-28 09:00:00", ""},
		{"monthly Dec 15 to next year", "Europe/Berlin", "monthly", "2026-12-15 09:00:00", "", "2027-01-15 09:00:00", "2027-01-15T08:00:00Z"},
		{"monthly day from anchor, not due", "UTC", "monthly", "2026-02-28 09:00:00", "2026-01-31 09:00:00", "2026-03-31 09:00:00", ""},
		{"time of day from anchor, not due", "UTC", "monthly", "2026-02-28 09:00:00", "2026-01-31 12:00:00", "2026-02-28 12:00:00", ""},
		{"daily 03:30 after a gap returns to the anchor's 02:30", "Europe/Berlin", "daily", "2027-03-28 03:30:00", "2027-03-26 02:30:00", "2027-03-29 02:30:00", "2027-03-29T00:30:00Z"},
		{"monthly after a gap returns to the anchor's time", "Europe/Berlin", "monthly", "2027-03-28 03:30:00", "2027-02-28 02:30:00", "2027-04-28 02:30:00", ""},
		{"prev before the anchor: the schedule extends backwards", "UTC", "daily", "2026-01-01 10:00:00", "2026-01-05 09:00:00", "2026-01-02 09:00:00", ""},
		{"monthly across DST keeps wall clock", "Europe/Berlin", "monthly", "2026-03-15 09:00:00", "", "2026-04-15 09:00:00", "2026-04-15T07:00:00Z"},
		{"monthly New York local date differs from UTC date", "America/New_York", "monthly", "2026-01-31 23:30:00", "", "2026-02-28 23:30:00", "2026-03-01T04:30:00Z"},
		{"yearly Mar 1", "UTC", "yearly", "2026-03-01 09:00:00", "", "2027-03-01 09:00:00", ""},
		{"yearly Feb 29 2000 to 2001 (2000 leap)", "UTC", "yearly", "2000-02-29 09:00:00", "", "2001-02-28 09:00:00", ""},
		{"yearly month and day from anchor", "UTC", "yearly", "2029-02-28 09:00:00", "2028-02-29 09:00:00", "2030-02-28 09:00:00", ""},
		// 02:30 does not exist in Berlin on 2026-03-29: read with the offset
		// before the gap (RFC 5545), 03:30 CEST.
		{"daily into DST gap Berlin", "Europe/Berlin", "daily", "2026-03-28 02:30:00", "", "", "2026-03-29T01:30:00Z"},
		// New York: 02:30 EST is 03:30 EDT (time.Date would give 01:30 EST).
		{"daily into DST gap New York", "America/New_York", "daily", "2027-03-13 02:30:00", "", "", "2027-03-14T07:30:00Z"},
		// Santiago skips 00:00-01:00 on 2026-09-06: 00:30 is 01:30 that day,
		// not 23:30 the day before (which time.Date gives).
		{"daily into midnight gap Santiago", "America/Santiago", "daily", "2026-09-05 00:30:00", "", "2026-09-06 01:30:00", "2026-09-06T04:30:00Z"},
		// A time that occurs twice is the first of the two.
		{"daily into fall-back overlap Berlin", "Europe/Berlin", "daily", "2027-10-30 02:30:00", "", "", "2027-10-31T00:30:00Z"},
		{"daily into fall-back overlap New York", "America/New_York", "daily", "2027-11-06 01:30:00", "", "", "2027-11-07T05:30:00Z"},
		{"daily into midnight overlap Santiago", "America/Santiago", "daily", "2027-04-02 23:30:00", "", "", "2027-04-04T02:30:00Z"},
		// Pacific/Apia has no 2011-12-30: its occurrence is the instant of
		// 2011-12-31 09:00, and the one after that is 2012-01-01.
		{"daily over a skipped day Apia", "Pacific/Apia", "daily", "2011-12-29 09:00:00", "", "2011-12-31 09:00:00", "2011-12-30T19:00:00Z"},
		{"daily after a skipped day Apia", "Pacific/Apia", "daily", "2011-12-31 09:00:00", "2011-12-29 09:00:00", "2012-01-01 09:00:00", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			due := local(t, tc.due, loc)
			var anchor time.Time
			if tc.anchor != "" {
				anchor = local(t, tc.anchor, loc)
			}
			got, err := Next(due, anchor, tc.rule, loc)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if tc.want != "" {
				checkUTC(t, "Next", got, local(t, tc.want, loc))
				if g := got.In(loc).Format(layout); g != tc.want {
					t.Errorf("Next local wall clock = %s, want %s", g, tc.want)
				}
			}
			if tc.wantUTC != "" {
				w, err := time.Parse(time.RFC3339Nano, tc.wantUTC)
				if err != nil {
					t.Fatalf("bad wantUTC: %v", err)
				}
				checkUTC(t, "Next", got, w)
			}
		})
	}
}

// TestNextDueInUTCInput checks that the input's own location does not matter:
// the same instant given in UTC yields the same result as given in loc.
func TestNextDueInUTCInput(t *testing.T) {
	loc := mustLoad(t, "America/New_York")
	due := time.Date(2026, 2, 1, 4, 30, 0, 0, time.UTC) // 2026-01-31 23:30 New York
	got, err := Next(due, time.Time{}, "monthly", loc)
	if err != nil {
		t.Fatal(err)
	}
	checkUTC(t, "Next", got, time.Date(2026, 2, 28, 23, 30, 0, 0, loc))
}

func TestNextChain(t *testing.T) {
	tests := []struct {
		name  string
		zone  string
		rule  Rule
		start string   // first due, also the anchor
		want  []string // successive due times, local wall clock
	}{
		{"monthly Jan 31 2026", "Europe/Berlin", "monthly", "2026-01-31 09:00:00",
			[]string{"2026-02-28 09:00:00", "2026-03-31 09:00:00", "2026-04-30 09:00:00", "2026-05-31 09:00:00"}},
		{"monthly Jan 30 2026", "UTC", "monthly", "2026-01-30 09:00:00",
			[]string{"2026-02-28 09:00:00", "2026-03-30 09:00:00"}},
		{"monthly Jan 31 New York late evening", "America/New_York", "monthly", "2026-01-31 23:30:00",
			[]string{"2026-02-28 23:30:00", "2026-03-31 23:30:00", "2026-04-30 23:30:00"}},
		{"yearly Feb 29 2028", "UTC", "yearly", "2028-02-29 09:00:00",
			[]string{"2029-02-28 09:00:00", "2030-02-28 09:00:00", "2031-02-28 09:00:00", "2032-02-29 09:00:00"}},
		// The issue: after the gap the series must come back to 02:30.
		{"daily 02:30 Berlin through the gap", "Europe/Berlin", "daily", "2027-03-26 02:30:00",
			[]string{"2027-03-27 02:30:00", "2027-03-28 03:30:00", "2027-03-29 02:30:00", "2027-03-30 02:30:00"}},
		{"daily 02:30 New York through the gap", "America/New_York", "daily", "2027-03-13 02:30:00",
			[]string{"2027-03-14 03:30:00", "2027-03-15 02:30:00", "2027-03-16 02:30:00"}},
		{"daily 00:30 Santiago through the midnight gap", "America/Santiago", "daily", "2026-09-05 00:30:00",
			[]string{"2026-09-06 01:30:00", "2026-09-07 00:30:00", "2026-09-08 00:30:00"}},
		{"daily 23:30 Santiago through the midnight overlap", "America/Santiago", "daily", "2027-04-02 23:30:00",
			[]string{"2027-04-03 23:30:00", "2027-04-04 23:30:00", "2027-04-05 23:30:00"}},
		{"weekly 02:30 Berlin through the gap", "Europe/Berlin", "weekly", "2027-03-21 02:30:00",
			[]string{"2027-03-28 03:30:00", "2027-04-04 02:30:00", "2027-04-11 02:30:00"}},
		{"monthly 02:30 Berlin through the gap", "Europe/Berlin", "monthly", "2027-02-28 02:30:00",
			[]string{"2027-03-28 03:30:00", "2027-04-28 02:30:00", "2027-05-28 02:30:00"}},
		{"monthly 31st New York through the gap", "America/New_York", "monthly", "2027-01-14 02:30:00",
			[]string{"2027-02-14 02:30:00", "2027-03-14 03:30:00", "2027-04-14 02:30:00"}},
		{"yearly 02:30 Berlin through the gap", "Europe/Berlin", "yearly", "2026-03-28 02:30:00",
			[]string{"2027-03-28 03:30:00", "2028-03-28 02:30:00", "2029-03-28 02:30:00"}},
		{"daily Apia over the skipped day", "Pacific/Apia", "daily", "2011-12-28 09:00:00",
			[]string{"2011-12-29 09:00:00", "2011-12-31 09:00:00", "2012-01-01 09:00:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			anchor := local(t, tc.start, loc)
			due := anchor
			for i, w := range tc.want {
				got, err := Next(due, anchor, tc.rule, loc)
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				if g := got.In(loc).Format(layout); g != w {
					t.Fatalf("step %d: got %s, want %s", i+1, g, w)
				}
				if got.Location() != time.UTC {
					t.Fatalf("step %d: location %v, want UTC", i+1, got.Location())
				}
				due = got
			}
		})
	}
}

func TestNextErrors(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	due := time.Date(2026, 3, 28, 9, 0, 0, 0, loc)
	tests := []struct {
		name string
		rule Rule
		loc  *time.Location
	}{
		{"hourly", "hourly", loc},
		{"none", "none", loc},
		{"empty", "", loc},
		{"wrong case", "Daily", loc},
		{"nil location", "daily", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Next(due, time.Time{}, tc.rule, tc.loc)
			if err == nil {
				t.Fatalf("Next(rule %q) = %v, want error", tc.rule, got)
			}
			if !got.IsZero() {
				t.Errorf("Next(rule %q) returned %v with error, want zero time", tc.rule, got)
			}
			if _, err := NextOccurrence(&due, nil, nil, due, tc.rule, tc.loc); err == nil {
				t.Errorf("NextOccurrence(rule %q): want error", tc.rule)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }

func TestNextOccurrence(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	ny := mustLoad(t, "America/New_York")
	in := func(s string, loc *time.Location) time.Time { return local(t, s, loc) }

	tests := []struct {
		name         string
		loc          *time.Location
		rule         Rule
		dueAt        *time.Time
		reminderAt   *time.Time
		anchor       *time.Time
		completedAt  time.Time
		wantDue      *time.Time
		wantReminder *time.Time
		wantAnchor   time.Time
	}{
		{
			name:         "due with reminder 30 minutes before, across spring-forward",
			loc:          berlin,
			rule:         "daily",
			dueAt:        ptr(in("2026-03-28 09:00:00", berlin)),
			reminderAt:   ptr(in("2026-03-28 08:30:00", berlin)),
			completedAt:  in("2026-03-28 10:12:00", berlin),
			wantDue:      ptr(in("2026-03-29 09:00:00", berlin)),
			wantReminder: ptr(in("2026-03-29 08:30:00", berlin)),
			wantAnchor:   in("2026-03-28 09:00:00", berlin),
		},
		{
			name:        "no due date: base is completedAt, no reminder",
			loc:         berlin,
			rule:        "daily",
			completedAt: in("2026-10-24 14:15:30", berlin),
			wantDue:     ptr(in("2026-10-25 14:15:30", berlin)),
			wantAnchor:  in("2026-10-24 14:15:30", berlin),
		},
		{
			name:        "no due date, weekly in loc",
			loc:         ny,
			rule:        "weekly",
			completedAt: in("2026-03-05 21:00:00", ny), // 2026-03-06T02:00Z
			wantDue:     ptr(in("2026-03-12 21:00:00", ny)),
			wantAnchor:  in("2026-03-05 21:00:00", ny),
		},
		{
			// The issue: a reminder-only series completed 4 days late got
			// its next reminder 3 days in the past and a -4 day offset.
			name:         "reminder, no due date, completed 4 days late: next slot after the completion",
			loc:          berlin,
			rule:         "daily",
			reminderAt:   ptr(in("2026-11-10 18:00:00", berlin)),
			completedAt:  in("2026-11-14 19:00:00", berlin),
			wantReminder: ptr(in("2026-11-15 18:00:00", berlin)),
			wantAnchor:   in("2026-11-10 18:00:00", berlin),
		},
		{
			name:         "reminder, no due date, completed late before the reminder's time of day",
			loc:          berlin,
			rule:         "daily",
			reminderAt:   ptr(in("2026-11-10 18:00:00", berlin)),
			completedAt:  in("2026-11-14 08:00:00", berlin),
			wantReminder: ptr(in("2026-11-14 18:00:00", berlin)),
			wantAnchor:   in("2026-11-10 18:00:00", berlin),
		},
		{
			name:         "reminder, no due date, completed early: the slot after the reminder",
			loc:          berlin,
			rule:         "weekly",
			reminderAt:   ptr(in("2026-11-10 18:00:00", berlin)),
			completedAt:  in("2026-11-09 12:00:00", berlin),
			wantReminder: ptr(in("2026-11-17 18:00:00", berlin)),
			wantAnchor:   in("2026-11-10 18:00:00", berlin),
		},
		{
			name:         "reminder, no due date, monthly on the anchor's 31st",
			loc:          berlin,
			rule:         "monthly",
			reminderAt:   ptr(in("2026-02-28 18:00:00", berlin)),
			anchor:       ptr(in("2026-01-31 18:00:00", berlin)),
			completedAt:  in("2026-02-28 19:00:00", berlin),
			wantReminder: ptr(in("2026-03-31 18:00:00", berlin)),
			wantAnchor:   in("2026-01-31 18:00:00", berlin),
		},
		{
			name:         "reminder, no due date, across the gap keeps 02:30",
			loc:          berlin,
			rule:         "daily",
			reminderAt:   ptr(in("2027-03-28 03:30:00", berlin)),
			anchor:       ptr(in("2027-03-20 02:30:00", berlin)),
			completedAt:  in("2027-03-28 10:00:00", berlin),
			wantReminder: ptr(in("2027-03-29 02:30:00", berlin)),
			wantAnchor:   in("2027-03-20 02:30:00", berlin),
		},
		{
			name:         "due date with reminder, completed 4 days late: unchanged (next due from the schedule)",
			loc:          berlin,
			rule:         "daily",
			dueAt:        ptr(in("2026-11-10 18:00:00", berlin)),
			reminderAt:   ptr(in("2026-11-10 17:00:00", berlin)),
			completedAt:  in("2026-11-14 19:00:00", berlin),
			wantDue:      ptr(in("2026-11-11 18:00:00", berlin)),
			wantReminder: ptr(in("2026-11-11 17:00:00", berlin)),
			wantAnchor:   in("2026-11-10 18:00:00", berlin),
		},
		{
			name:        "nil anchor: anchor is the due time",
			loc:         berlin,
			rule:        "monthly",
			dueAt:       ptr(in("2026-01-31 09:00:00", berlin)),
			completedAt: in("2026-02-02 10:00:00", berlin),
			wantDue:     ptr(in("2026-02-28 09:00:00", berlin)),
			wantAnchor:  in("2026-01-31 09:00:00", berlin),
		},
		{
			name:        "zero anchor treated like nil",
			loc:         berlin,
			rule:        "monthly",
			dueAt:       ptr(in("2026-01-31 09:00:00", berlin)),
			anchor:      ptr(time.Time{}),
			completedAt: in("2026-02-02 10:00:00", berlin),
			wantDue:     ptr(in("2026-02-28 09:00:00", berlin)),
			wantAnchor:  in("2026-01-31 09:00:00", berlin),
		},
		{
			name:        "given anchor decides the day and is carried",
			loc:         berlin,
			rule:        "monthly",
			dueAt:       ptr(in("2026-02-28 09:00:00", berlin)),
			anchor:      ptr(in("2026-01-31 09:00:00", berlin)),
			completedAt: in("2026-02-28 11:00:00", berlin),
			wantDue:     ptr(in("2026-03-31 09:00:00", berlin)),
			wantAnchor:  in("2026-01-31 09:00:00", berlin),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NextOccurrence(tc.dueAt, tc.reminderAt, tc.anchor, tc.completedAt, tc.rule, tc.loc)
			if err != nil {
				t.Fatalf("NextOccurrence: %v", err)
			}
			switch {
			case tc.wantDue == nil && got.DueAt != nil:
				t.Errorf("DueAt = %v, want nil", *got.DueAt)
			case tc.wantDue != nil && got.DueAt == nil:
				t.Errorf("DueAt = nil, want %v", tc.wantDue.UTC())
			case tc.wantDue != nil:
				checkUTC(t, "DueAt", *got.DueAt, *tc.wantDue)
			}
			checkUTC(t, "Anchor", got.Anchor, tc.wantAnchor)
			switch {
			case tc.wantReminder == nil && got.ReminderAt != nil:
				t.Errorf("ReminderAt = %v, want nil", *got.ReminderAt)
			case tc.wantReminder != nil && got.ReminderAt == nil:
				t.Errorf("ReminderAt = nil, want %v", tc.wantReminder.UTC())
			case tc.wantReminder != nil:
				checkUTC(t, "ReminderAt", *got.ReminderAt, *tc.wantReminder)
			}
		})
	}
}

// TestNextOccurrenceChain feeds each result back in as the next completed
// task, so the anchor (Jan 31) must be carried through the chain.
func TestNextOccurrenceChain(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	due := time.Date(2026, 1, 31, 9, 0, 0, 0, loc)
	reminder := due.Add(-30 * time.Minute)
	var anchor *time.Time
	want := []time.Time{
		time.Date(2026, 2, 28, 9, 0, 0, 0, loc),
		time.Date(2026, 3, 31, 9, 0, 0, 0, loc),
		time.Date(2026, 4, 30, 9, 0, 0, 0, loc),
		time.Date(2026, 5, 31, 9, 0, 0, 0, loc),
	}
	wantAnchor := time.Date(2026, 1, 31, 9, 0, 0, 0, loc)
	for i, w := range want {
		completed := due.Add(2 * time.Hour)
		occ, err := NextOccurrence(&due, &reminder, anchor, completed, "monthly", loc)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		if occ.DueAt == nil {
			t.Fatalf("step %d: DueAt = nil", i+1)
		}
		checkUTC(t, "DueAt", *occ.DueAt, w)
		checkUTC(t, "Anchor", occ.Anchor, wantAnchor)
		if occ.ReminderAt == nil {
			t.Fatalf("step %d: ReminderAt = nil", i+1)
		}
		checkUTC(t, "ReminderAt", *occ.ReminderAt, w.Add(-30*time.Minute))
		if t.Failed() {
			t.FailNow()
		}
		due, reminder, anchor = *occ.DueAt, *occ.ReminderAt, &occ.Anchor
	}
}

// Nth is defined from the anchor alone.
func TestNth(t *testing.T) {
	tests := []struct {
		name   string
		zone   string
		rule   Rule
		anchor string // local wall clock in zone
		k      int
		want   string // local wall clock in zone
	}{
		{"k 0 is the anchor", "Europe/Berlin", "daily", "2027-03-26 02:30:00", 0, "2027-03-26 02:30:00"},
		{"daily into the gap", "Europe/Berlin", "daily", "2027-03-26 02:30:00", 2, "2027-03-28 03:30:00"},
		{"daily after the gap", "Europe/Berlin", "daily", "2027-03-26 02:30:00", 3, "2027-03-29 02:30:00"},
		{"negative k", "Europe/Berlin", "daily", "2027-03-26 02:30:00", -1, "2027-03-25 02:30:00"},
		{"weekly", "America/New_York", "weekly", "2027-03-07 02:30:00", 1, "2027-03-14 03:30:00"},
		{"monthly clamps", "UTC", "monthly", "2027-01-31 09:00:00", 1, "2027-02-28 09:00:00"},
		{"monthly 13 months to a leap February", "UTC", "monthly", "2027-01-31 09:00:00", 13, "2028-02-29 09:00:00"},
		{"monthly back to the 31st", "UTC", "monthly", "2027-01-31 09:00:00", 2, "2027-03-31 09:00:00"},
		{"yearly Feb 29 to a non-leap year", "UTC", "yearly", "2028-02-29 23:59:59.999999", 1, "2029-02-28 23:59:59.999999"},
		{"yearly Feb 29 to the next leap year", "UTC", "yearly", "2028-02-29 23:59:59.999999", 4, "2032-02-29 23:59:59.999999"},
		{"yearly 2100 is not leap", "UTC", "yearly", "2096-02-29 12:00:00", 4, "2100-02-28 12:00:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			got, err := Nth(local(t, tc.anchor, loc), tc.k, tc.rule, loc)
			if err != nil {
				t.Fatal(err)
			}
			checkUTC(t, "Nth", got, local(t, tc.want, loc))
		})
	}
	if _, err := Nth(time.Now(), 1, "hourly", time.UTC); err == nil {
		t.Error("Nth with rule hourly: want error")
	}
	if _, err := Nth(time.Now(), 1, "daily", nil); err == nil {
		t.Error("Nth with nil location: want error")
	}
}

// The rules are one list: Parse accepts exactly its members, its error lists
// them, and every rule but None is a schedule that the series tests cover.
func TestRules(t *testing.T) {
	want := []Rule{None, Daily, Weekly, Monthly, Yearly}
	if got := Rules(); !slices.Equal(got, want) {
		t.Fatalf("Rules() = %q, want %q", got, want)
	}
	for _, r := range Rules() {
		if got, err := Parse(string(r)); err != nil || got != r {
			t.Errorf("Parse(%q) = %q, %v", r, got, err)
		}
		if r.Repeats() != (r != None) {
			t.Errorf("%q.Repeats() = %v", r, r.Repeats())
		}
	}
	const msg = "must be one of none, daily, weekly, monthly, yearly"
	if Expected() != msg {
		t.Errorf("Expected() = %q, want %q", Expected(), msg)
	}
	for _, s := range []string{"", "hourly", "Daily", " daily", "none "} {
		if got, err := Parse(s); err == nil || err.Error() != msg || got != "" {
			t.Errorf("Parse(%q) = %q, %v; want the error %q", s, got, err, msg)
		}
		if Rule(s).Repeats() {
			t.Errorf("%q.Repeats() = true", s)
		}
	}
	if !slices.Equal(allRules, Rules()[1:]) {
		t.Errorf("the series tests cover %q, want every rule but none: %q", allRules, Rules()[1:])
	}
}

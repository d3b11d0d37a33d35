package recurrence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRRuleRefusesNamingThePart(t *testing.T) {
	for _, tt := range []struct{ rule, part string }{
		{"", "RRULE"},
		{"RRULE:FREQ=DAILY", "RRULE"},
		{"FREQ=DAILY;;", "RRULE"},
		{"FREQ=DAILY;INTERVAL", "RRULE"},
		{strings.Repeat("FREQ=DAILY;", 60), "RRULE"},
		{"INTERVAL=2", "FREQ"},
		{"FREQ=HOURLY", "FREQ"},
		{"FREQ=SECONDLY", "FREQ"},
		{"FREQ=DAILY;FREQ=WEEKLY", "FREQ"},
		{"FREQ=DAILY;INTERVAL=0", "INTERVAL"},
		{"FREQ=DAILY;INTERVAL=1001", "INTERVAL"},
		{"FREQ=DAILY;INTERVAL=x", "INTERVAL"},
		{"FREQ=DAILY;COUNT=0", "COUNT"},
		{"FREQ=DAILY;COUNT=10001", "COUNT"},
		{"FREQ=DAILY;UNTIL=20270331", "UNTIL"},
		{"FREQ=DAILY;UNTIL=20270331T225959", "UNTIL"},
		{"FREQ=DAILY;UNTIL=100000101T000000Z", "UNTIL"},
		{"FREQ=DAILY;COUNT=3;UNTIL=20270331T225959Z", "UNTIL"},
		{"FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY"},
		{"FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"},
		{"FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"},
		{"FREQ=MONTHLY;BYMONTHDAY=1,1", "BYMONTHDAY"},
		{"FREQ=DAILY;BYDAY=1MO", "BYDAY"},
		{"FREQ=WEEKLY;BYDAY=-1FR", "BYDAY"},
		{"FREQ=MONTHLY;BYDAY=6MO", "BYDAY"},
		{"FREQ=YEARLY;BYDAY=54MO", "BYDAY"},
		{"FREQ=MONTHLY;BYDAY=MO,-1FR", "BYDAY"},
		{"FREQ=MONTHLY;BYDAY=XX", "BYDAY"},
		{"FREQ=MONTHLY;BYDAY=", "RRULE"},
		{"FREQ=MONTHLY;BYDAY=MO,", "BYDAY"},
		{"FREQ=YEARLY;BYMONTH=13", "BYMONTH"},
		{"FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS"},
		{"FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS"},
		{"FREQ=DAILY;WKST=XX", "WKST"},
		{"FREQ=DAILY;BYHOUR=9", "BYHOUR"},
		{"FREQ=YEARLY;BYYEARDAY=100", "BYYEARDAY"},
		{"FREQ=YEARLY;BYWEEKNO=20", "BYWEEKNO"},
		{"FREQ=DAILY;X-NAME=1", "X-NAME"},
	} {
		_, err := ParseRRule(tt.rule)
		var pe *PartError
		if !errors.As(err, &pe) || pe.Part != tt.part {
			t.Errorf("%.60q: %v, want a refusal of %s", tt.rule, err, tt.part)
		}
	}
}

func TestParseRRuleCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"freq=weekly;byday=th,mo;interval=2;until=20270331T225959Z": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270331T225959Z",
		"FREQ=MONTHLY;BYDAY=-1FR":                                   "FREQ=MONTHLY;BYDAY=-1FR",
		"FREQ=MONTHLY;BYMONTHDAY=-1,15,1":                           "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
		"FREQ=DAILY;INTERVAL=1;WKST=MO":                             "FREQ=DAILY",
		"FREQ=WEEKLY;WKST=SU;BYDAY=SU,SA":                           "FREQ=WEEKLY;WKST=SU;BYDAY=SA,SU",
		"FREQ=YEARLY;BYMONTH=12,3;COUNT=5":                          "FREQ=YEARLY;BYMONTH=3,12;COUNT=5",
		" FREQ = DAILY ":                                            "FREQ=DAILY",
	} {
		r, err := ParseRRule(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := r.String(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		again, err := ParseRRule(r.String())
		if err != nil || again.String() != want {
			t.Errorf("%q does not round-trip: %v", want, err)
		}
	}
}

func series(t *testing.T, rule, start, zone string) *Series {
	t.Helper()
	loc := mustLoad(t, zone)
	r, err := ParseRRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSeries(r, local(t, start+":00", loc), loc)
	if err != nil {
		t.Fatalf("%s from %s: %v", rule, start, err)
	}
	return s
}

func TestSeriesExpands(t *testing.T) {
	for _, tt := range []struct {
		rule, start, zone, summary string
		want                       []string // local times in zone
	}{
		{"FREQ=MONTHLY;BYDAY=-1FR", "2026-12-07 09:00", "Europe/Berlin", "every month on the last Friday",
			[]string{"2026-12-25 09:00", "2027-01-29 09:00", "2027-02-26 09:00", "2027-03-26 09:00"}},
		{"FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20261222T000000Z", "2026-12-09 09:00", "Europe/Berlin",
			"every 2 weeks on Monday and Thursday, until 22 December 2026",
			[]string{"2026-12-10 09:00", "2026-12-21 09:00"}},
		{"FREQ=MONTHLY;BYMONTHDAY=31", "2027-01-31 08:00", "America/New_York", "every month on the 31st",
			[]string{"2027-01-31 08:00", "2027-03-31 08:00", "2027-05-31 08:00"}},
		{"FREQ=MONTHLY;BYMONTHDAY=-1", "2027-01-31 08:00", "UTC", "every month on the last day",
			[]string{"2027-01-31 08:00", "2027-02-28 08:00", "2027-03-31 08:00"}},
		{"FREQ=DAILY;COUNT=3", "2027-03-27 02:30", "Europe/Berlin", "every day, 3 times",
			[]string{"2027-03-27 02:30", "2027-03-28 03:30", "2027-03-29 02:30"}},
		{"FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "2027-12-30 07:00", "Europe/London", "every weekday",
			[]string{"2027-12-30 07:00", "2027-12-31 07:00", "2028-01-03 07:00"}},
		{"FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "2027-01-01 18:00", "UTC", "every month on the last weekday",
			[]string{"2027-01-29 18:00", "2027-02-26 18:00", "2027-03-31 18:00"}},
		{"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "2027-01-01 12:00", "UTC", "every year on the 29th of February",
			[]string{"2028-02-29 12:00", "2032-02-29 12:00"}},
		{"FREQ=MONTHLY;INTERVAL=3", "2027-01-31 10:00", "UTC", "every 3 months on the 31st",
			[]string{"2027-01-31 10:00", "2027-07-31 10:00", "2027-10-31 10:00"}},
	} {
		s := series(t, tt.rule, tt.start, tt.zone)
		loc := mustLoad(t, tt.zone)
		var got []string
		for _, o := range s.Occurrences(local(t, tt.start+":00", loc), len(tt.want)+1) {
			got = append(got, o.In(loc).Format("2006-01-02 15:04"))
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") && !strings.HasPrefix(strings.Join(got, ","), strings.Join(tt.want, ",")+",") {
			t.Errorf("%s from %s: %v, want %v", tt.rule, tt.start, got, tt.want)
		}
		if got := s.Summary(); got != tt.summary {
			t.Errorf("%s: summary %q, want %q", tt.rule, got, tt.summary)
		}
	}
}

func TestRulesWithoutOccurrencesAreRefused(t *testing.T) {
	loc := mustLoad(t, "UTC")
	start := time.Date(2027, 1, 1, 9, 0, 0, 0, loc)
	for _, rule := range []string{"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
		"FREQ=DAILY;UNTIL=20261231T000000Z", "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29"} {
		r, err := ParseRRule(rule)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NewSeries(r, start, loc); !errors.Is(err, ErrNoOccurrence) {
			t.Errorf("%s: %v, want ErrNoOccurrence", rule, err)
		}
	}
}

func TestNextByRule(t *testing.T) {
	loc := mustLoad(t, "Europe/Berlin")
	at := func(s string) time.Time { return local(t, s+":00", loc) }
	rule := func(s string) RRule {
		r, err := ParseRRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tt := range []struct {
		name         string
		rule         string
		anchor, prev string
		index        int
		closed       string
		from         RepeatFrom
		want         string // "" when the series ended
		wantIndex    int
		wantLast     bool
	}{
		{"on schedule however late", "FREQ=DAILY;INTERVAL=3", "2027-01-01 09:00", "2027-01-01 09:00", 1, "2027-01-20 18:00", FromDue, "2027-01-04 09:00", 2, false},
		{"from completion: 3 days after it", "FREQ=DAILY;INTERVAL=3", "2027-01-01 09:00", "2027-01-01 09:00", 1, "2027-01-20 18:00", FromCompletion, "2027-01-23 09:00", 2, false},
		{"from completion: the next Monday", "FREQ=WEEKLY;BYDAY=MO", "2027-01-04 09:00", "2027-01-04 09:00", 1, "2027-01-13 07:00", FromCompletion, "2027-01-18 09:00", 2, false},
		{"from completion on a Monday: the Monday after", "FREQ=WEEKLY;BYDAY=MO", "2027-01-04 09:00", "2027-01-04 09:00", 1, "2027-01-11 07:00", FromCompletion, "2027-01-18 09:00", 2, false},
		{"COUNT: the third is the last", "FREQ=DAILY;COUNT=3", "2027-01-01 09:00", "2027-01-02 09:00", 2, "2027-01-02 10:00", FromDue, "2027-01-03 09:00", 3, true},
		{"COUNT: after the last, nothing", "FREQ=DAILY;COUNT=3", "2027-01-01 09:00", "2027-01-03 09:00", 3, "2027-01-03 10:00", FromDue, "", 0, false},
		{"COUNT from completion", "FREQ=DAILY;COUNT=2", "2027-01-01 09:00", "2027-01-01 09:00", 1, "2027-01-05 10:00", FromCompletion, "2027-01-06 09:00", 2, true},
		{"COUNT from completion, ended", "FREQ=DAILY;COUNT=2", "2027-01-01 09:00", "2027-01-06 09:00", 2, "2027-01-06 10:00", FromCompletion, "", 0, false},
		{"UNTIL: last before it", "FREQ=WEEKLY;UNTIL=20270115T000000Z", "2027-01-01 09:00", "2027-01-01 09:00", 1, "2027-01-01 10:00", FromDue, "2027-01-08 09:00", 2, true},
		{"UNTIL from completion", "FREQ=WEEKLY;UNTIL=20270115T000000Z", "2027-01-01 09:00", "2027-01-01 09:00", 1, "2027-01-10 10:00", FromCompletion, "", 0, false},
	} {
		step, ok, err := NextByRule(rule(tt.rule), at(tt.anchor), at(tt.prev), tt.index, at(tt.closed), tt.from, loc)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.want == "" {
			if ok {
				t.Errorf("%s: next %v, want the series ended", tt.name, step.At.In(loc))
			}
			continue
		}
		if !ok || !step.At.Equal(at(tt.want)) || step.Index != tt.wantIndex || step.Last != tt.wantLast {
			t.Errorf("%s: %v %d last=%v ok=%v, want %s %d last=%v", tt.name, step.At.In(loc), step.Index, step.Last, ok, tt.want, tt.wantIndex, tt.wantLast)
		}
	}
}

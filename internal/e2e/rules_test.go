package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
)

func (e *env) skip(id int64) client.Task {
	e.t.Helper()
	t, err := e.client.SkipTask(e.t.Context(), id)
	e.ok(fmt.Sprintf("skip task %d", id), err)
	return t
}

// closeAndNext closes task id (skip or complete) and waits for its next
// occurrence.
func (e *env) closeAndNext(id int64, skip bool) (closed, next client.Task) {
	e.t.Helper()
	if !skip {
		return e.completeAndNext(id)
	}
	closed = e.skip(id)
	return closed, e.waitNext(id)
}

// noNext completes task id and waits until recurring-service has handled
// the completion and created nothing.
func (e *env) noNext(id int64) {
	e.t.Helper()
	e.complete(id)
	eventually(e.t, 60*time.Second, fmt.Sprintf("the completion of task %d was handled", id), func() bool {
		for _, rec := range e.logLines("recurring-service", "recurring event") {
			if rec["task_id"] == float64(id) && rec["outcome"] == "skipped" {
				return true
			}
		}
		return false
	})
	if n := e.nextOf(id); len(n) != 0 {
		e.t.Fatalf("task %d, the last of its series, got %d next occurrences", id, len(n))
	}
}

// completedEvent is the data of task id's TaskCompleted as audit-service
// recorded it, once it has.
func (e *env) completedEvent(id int64) map[string]any {
	e.t.Helper()
	var data map[string]any
	eventually(e.t, 60*time.Second, fmt.Sprintf("the TaskCompleted of task %d is audited", id), func() bool {
		for _, h := range e.history(id) {
			if h.EventType == "TaskCompleted" {
				data = dataOf(e.t, h)
			}
		}
		return data != nil
	})
	return data
}

// walk closes each occurrence of the series that starts with first in
// turn and checks that the occurrences' due times are want (UTC, RFC
// 3339), first's included, their numbers 1, 2, … and that only the last
// is marked last; the last is then completed and must get no successor
// when last is true. skipEvery > 0 skips every skipEvery-th occurrence
// instead of completing it.
func (e *env) walk(first client.Task, want []string, last bool, skipEvery int) []client.Task {
	e.t.Helper()
	series := []client.Task{first}
	cur := first
	for i := range want {
		if rfc(cur.DueAt) != want[i] || cur.SeriesIndex != i+1 {
			e.t.Fatalf("occurrence %d: due %s, number %d; want %s, number %d", i+1, rfc(cur.DueAt), cur.SeriesIndex, want[i], i+1)
		}
		isLast := last && i == len(want)-1
		if cur.LastInSeries != isLast || (cur.Recurrence == client.RecurrenceNone) != isLast || cur.RRule == nil {
			e.t.Fatalf("occurrence %d (%s): last_in_series %v, recurrence %s, rrule %v; want last %v with the rule kept",
				i+1, want[i], cur.LastInSeries, cur.Recurrence, cur.RRule, isLast)
		}
		if i == len(want)-1 {
			break
		}
		skip := skipEvery > 0 && (i+1)%skipEvery == 0
		closed, next := e.closeAndNext(cur.ID, skip)
		if closed.Skipped != skip || !closed.Completed {
			e.t.Fatalf("occurrence %d closed as %+v, want skipped %v", i+1, closed, skip)
		}
		if next.SeriesID == nil || *next.SeriesID != first.ID || next.Completed || next.Timezone != first.Timezone ||
			*next.RRule != *first.RRule || next.RepeatFrom != first.RepeatFrom {
			e.t.Fatalf("occurrence %d: next = %+v, want an open task of series %d with its rule", i+2, next, first.ID)
		}
		series = append(series, next)
		cur = next
	}
	if last {
		e.noNext(cur.ID)
	}
	return series
}

// Issue 19: RFC 5545 rules through the whole system. Each occurrence is
// created by recurring-service from the previous one's TaskCompleted,
// through todo-api, their sidecars, the broker and PostgreSQL; the dates
// of the long series were computed by python-dateutil (the reference of
// internal/recurrence's differential test).
func TestRuleSeries(t *testing.T) {
	e := startSystem(t)

	t.Run("the last Friday of each month for 14 months", func(t *testing.T) {
		e := e.in(t)
		first := e.create(client.NewTask{Title: "pay the invoices", RRule: "FREQ=MONTHLY;BYDAY=-1FR", Timezone: "America/New_York",
			DueAt: at("2027-01-29T09:00:00-05:00")})
		// 09:00 in New York, EST and EDT.
		e.walk(first, []string{"2027-01-29T14:00:00Z", "2027-02-26T14:00:00Z", "2027-03-26T13:00:00Z", "2027-04-30T13:00:00Z",
			"2027-05-28T13:00:00Z", "2027-06-25T13:00:00Z", "2027-07-30T13:00:00Z", "2027-08-27T13:00:00Z", "2027-09-24T13:00:00Z",
			"2027-10-29T13:00:00Z", "2027-11-26T14:00:00Z", "2027-12-31T14:00:00Z", "2028-01-28T14:00:00Z", "2028-02-25T14:00:00Z",
			"2028-03-31T13:00:00Z"}, false, 0)
	})

	t.Run("every weekday across the end of summer time and the year's end", func(t *testing.T) {
		e := e.in(t)
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		// 08:30 in Berlin on each Monday to Friday, Thursday 28 October
		// 2027 to Tuesday 4 January 2028: 49 occurrences.
		var want []string
		for d := time.Date(2027, 10, 28, 8, 30, 0, 0, berlin); !d.After(time.Date(2028, 1, 4, 8, 30, 0, 0, berlin)); d = d.AddDate(0, 0, 1) {
			if d.Weekday() != time.Saturday && d.Weekday() != time.Sunday {
				want = append(want, d.UTC().Format(time.RFC3339))
			}
		}
		first := e.create(client.NewTask{Title: "stand-up", RRule: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", Timezone: "Europe/Berlin",
			DueAt: at("2027-10-28T08:30:00+02:00"), Reminders: []client.Reminder{{Before: "PT10M"}}})
		series := e.walk(first, want, false, 7)
		for i, s := range series {
			if len(s.Reminders) != 1 || s.Reminders[0].Before != "PT10M" {
				t.Fatalf("occurrence %d: reminders %+v, want the one 10 minutes before", i+1, s.Reminders)
			}
			if wantAt := s.DueAt.Add(-10 * time.Minute); s.ReminderAt == nil || !s.ReminderAt.Equal(wantAt) {
				t.Fatalf("occurrence %d: next reminder %s, want %s", i+1, rfc(s.ReminderAt), rfc(&wantAt))
			}
		}
	})

	t.Run("every 2 weeks on Monday and Thursday, ended by UNTIL", func(t *testing.T) {
		e := e.in(t)
		// Given a Wednesday, the series starts on the rule's first
		// occurrence after it: Thursday 7 January.
		moved := e.create(client.NewTask{Title: "moved", RRule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", Timezone: "Europe/Berlin",
			DueAt: at("2027-01-06T09:00:00+01:00")})
		if rfc(moved.DueAt) != "2027-01-07T08:00:00Z" || moved.SeriesIndex != 1 {
			t.Errorf("created on a Wednesday: due %s number %d, want 2027-01-07T08:00:00Z number 1", rfc(moved.DueAt), moved.SeriesIndex)
		}
		first := e.create(client.NewTask{Title: "swim", RRule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270331T225959Z",
			Timezone: "Europe/Berlin", DueAt: at("2027-01-04T09:00:00+01:00"), Reminders: []client.Reminder{{Before: "P1D"}}})
		e.walk(first, []string{"2027-01-04T08:00:00Z", "2027-01-07T08:00:00Z", "2027-01-18T08:00:00Z", "2027-01-21T08:00:00Z",
			"2027-02-01T08:00:00Z", "2027-02-04T08:00:00Z", "2027-02-15T08:00:00Z", "2027-02-18T08:00:00Z", "2027-03-01T08:00:00Z",
			"2027-03-04T08:00:00Z", "2027-03-15T08:00:00Z", "2027-03-18T08:00:00Z", "2027-03-29T07:00:00Z"}, true, 4)
	})

	t.Run("the first in a DST gap, the rest at the time given", func(t *testing.T) {
		e := e.in(t)
		// Sundays at 02:30 in Berlin from Saturday 27 March 2027: 02:30 does
		// not exist on the 28th (03:30 CEST), and is back on 4 April.
		first := e.create(client.NewTask{Title: "night bus", RRule: "FREQ=WEEKLY;BYDAY=SU", Timezone: "Europe/Berlin",
			DueAt: at("2027-03-27T02:30:00+01:00")})
		e.walk(first, []string{"2027-03-28T01:30:00Z", "2027-04-04T00:30:00Z", "2027-04-11T00:30:00Z"}, false, 0)
	})

	t.Run("COUNT=3", func(t *testing.T) {
		e := e.in(t)
		first := e.create(client.NewTask{Title: "three doses", RRule: "FREQ=DAILY;COUNT=3", Timezone: "UTC", DueAt: at("2027-05-01T20:00:00Z")})
		series := e.walk(first, []string{"2027-05-01T20:00:00Z", "2027-05-02T20:00:00Z", "2027-05-03T20:00:00Z"}, true, 0)
		// The last one's TaskCompleted reads recurrence "none", so that a
		// consumer that knows only the spec's field creates nothing more.
		completed := e.completedEvent(series[2].ID)
		if completed["recurrence"] != "none" || completed["last_in_series"] != true ||
			completed["rrule"] != "FREQ=DAILY;COUNT=3" || completed["series_index"] != float64(3) {
			t.Errorf("the last occurrence's TaskCompleted: %v", completed)
		}
	})

	t.Run("repeat from completion after a late completion", func(t *testing.T) {
		e := e.in(t)
		for _, c := range []struct {
			rule string
			next func(closed time.Time) time.Time // from the day of closing, in Tokyo
		}{
			{"FREQ=DAILY;INTERVAL=3", func(c time.Time) time.Time { return c.AddDate(0, 0, 3) }},
			{"FREQ=WEEKLY;BYDAY=MO", func(c time.Time) time.Time {
				return c.AddDate(0, 0, (int(time.Monday)-int(c.Weekday())+6)%7+1)
			}},
		} {
			tokyo, _ := time.LoadLocation("Asia/Tokyo")
			// Due at 07:15 in Tokyo, ten days ago: closed late.
			due := time.Now().In(tokyo).AddDate(0, 0, -10)
			y, m, d := due.Date()
			due = time.Date(y, m, d, 7, 15, 0, 0, tokyo)
			if c.rule == "FREQ=WEEKLY;BYDAY=MO" {
				due = due.AddDate(0, 0, (int(time.Monday)-int(due.Weekday())+7)%7)
			}
			first := e.create(client.NewTask{Title: "from completion", RRule: c.rule, RepeatFrom: client.RepeatFromCompletion,
				Timezone: "Asia/Tokyo", DueAt: &due})
			done, next := e.completeAndNext(first.ID)
			cy, cm, cd := done.CompletedAt.In(tokyo).Date()
			want := c.next(time.Date(cy, cm, cd, 7, 15, 0, 0, tokyo))
			if next.DueAt == nil || !next.DueAt.Equal(want) || next.SeriesIndex != 2 || next.RepeatFrom != client.RepeatFromCompletion {
				t.Errorf("%s completed at %s: next due %s number %d, want %s number 2", c.rule, rfc(done.CompletedAt), rfc(next.DueAt),
					next.SeriesIndex, rfc(&want))
			}
		}
	})

	t.Run("skip", func(t *testing.T) {
		e := e.in(t)
		first := e.create(client.NewTask{Title: "gym", RRule: "FREQ=WEEKLY;BYDAY=TU,SA", Timezone: "Europe/Lisbon",
			DueAt: at("2027-06-01T18:00:00+01:00")})
		skipped, next := e.closeAndNext(first.ID, true)
		if !skipped.Skipped || !skipped.Completed || rfc(next.DueAt) != "2027-06-05T17:00:00Z" || next.Skipped {
			t.Fatalf("skipped %+v, next due %s; want it closed as skipped and the Saturday next", skipped, rfc(next.DueAt))
		}
		if ev := e.completedEvent(first.ID); ev["skipped"] != true {
			t.Errorf("the skip's event: %v, want a TaskCompleted with skipped true", ev)
		}
		// Skipping twice changes nothing and creates no second occurrence.
		if again := e.skip(first.ID); again.Version != skipped.Version {
			t.Errorf("a second skip changed the task: version %d, was %d", again.Version, skipped.Version)
		}
		// A task that does not repeat cannot be skipped.
		once := e.create(client.NewTask{Title: "once"})
		_, err := e.client.SkipTask(t.Context(), once.ID)
		e.refused("skip of a task that does not repeat", err, http.StatusConflict)
		if n := e.nextOf(first.ID); len(n) != 1 {
			t.Errorf("after a second skip %d next occurrences, want 1", len(n))
		}
	})
}

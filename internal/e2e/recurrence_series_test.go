package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
)

// in is e with the test t, so that a subtest's helpers fail the subtest.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// completeAndNext completes task id through the API, waits until
// recurring-service has created its next occurrence through todo-api, and
// returns the completed task and the next one, as the API answers them.
func (e *env) completeAndNext(id int64) (done, next client.Task) {
	e.t.Helper()
	done = e.complete(id)
	return done, e.waitNext(id)
}

// waitNext waits until recurring-service has created the next occurrence
// of the closed task id through todo-api, and returns it as the API
// answers it; there must be exactly one.
func (e *env) waitNext(id int64) client.Task {
	e.t.Helper()
	var ids []client.Task
	eventually(e.t, 60*time.Second, fmt.Sprintf("task %d has its next occurrence", id), func() bool {
		ids = e.nextOf(id)
		return len(ids) > 0
	})
	if len(ids) != 1 {
		e.t.Fatalf("task %d has %d next occurrences, want 1", id, len(ids))
	}
	return e.get(ids[0].ID)
}

func rfc(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Issue 9, §2 and §3, through todo-api, recurring-service, their daprd
// sidecars, the broker and PostgreSQL: each occurrence is created by the
// service from the previous one's TaskCompleted event.
func TestRecurrenceSeries(t *testing.T) {
	e := startSystem(t)

	// A daily 02:30 Europe/Berlin series through the 2027-03-28 gap: 03:30
	// CEST that day (02:30 does not exist), 02:30 again from the next day
	// on. The reminder stays 30 minutes before.
	t.Run("daily 02:30 Berlin through the DST gap", func(t *testing.T) {
		e := e.in(t)
		first := e.create(client.NewTask{Title: "night shift", Recurrence: client.RecurrenceDaily, Timezone: "Europe/Berlin",
			DueAt: at("2027-03-26T02:30:00+01:00"), ReminderAt: at("2027-03-26T02:00:00+01:00")})
		want := []string{ // due_at of each next occurrence, UTC
			"2027-03-27T01:30:00Z", // 02:30 CET
			"2027-03-28T01:30:00Z", // 03:30 CEST: 02:30 does not exist
			"2027-03-29T00:30:00Z", // 02:30 CEST
			"2027-03-30T00:30:00Z",
			"2027-03-31T00:30:00Z",
			"2027-04-01T00:30:00Z",
		}
		cur := first
		for i, w := range want {
			_, next := e.completeAndNext(cur.ID)
			wantDue, _ := time.Parse(time.RFC3339, w)
			wantRem := wantDue.Add(-30 * time.Minute)
			if next.DueAt == nil || !next.DueAt.Equal(wantDue) || next.ReminderAt == nil || !next.ReminderAt.Equal(wantRem) {
				t.Fatalf("completion %d: next due %s reminder %s, want due %s reminder %s", i+1,
					rfc(next.DueAt), rfc(next.ReminderAt), w, rfc(&wantRem))
			}
			if next.SeriesID == nil || *next.SeriesID != first.ID || next.Timezone != "Europe/Berlin" || next.Completed {
				t.Fatalf("completion %d: next = %+v, want an open Europe/Berlin task of series %d", i+1, next, first.ID)
			}
			cur = next
		}
	})

	// A monthly series anchored on Jan 31. A form re-sends the unchanged
	// due_at with a new title: the anchor must stay, so Feb 28 is followed
	// by Mar 31, not Mar 28. A changed due_at does re-anchor.
	t.Run("unchanged due_at in a PATCH keeps the monthly anchor", func(t *testing.T) {
		e := e.in(t)
		jan := e.create(client.NewTask{Title: "rent", Recurrence: client.RecurrenceMonthly, Timezone: "UTC", DueAt: at("2027-01-31T12:00:00Z")})
		_, feb := e.completeAndNext(jan.ID)
		if rfc(feb.DueAt) != "2027-02-28T12:00:00Z" {
			t.Fatalf("after Jan 31: due %s, want 2027-02-28T12:00:00Z", rfc(feb.DueAt))
		}
		// The whole object, as a web form sends it, with only the title changed.
		e.update(feb.ID, client.TaskPatch{Title: client.Set("rent (paid by card)"), DueAt: client.Set(*at("2027-02-28T12:00:00Z")),
			ReminderAt: client.Null[time.Time](), Recurrence: client.Set(client.RecurrenceMonthly), Timezone: client.Set("UTC"),
			Tags: client.Set([]string{}), Priority: client.Set(client.PriorityNone), Description: client.Set("")})
		// The same instant written in another offset is the same due_at too.
		e.update(feb.ID, client.TaskPatch{Description: client.Set("card"), DueAt: client.Set(*at("2027-02-28T07:00:00-05:00"))})
		_, mar := e.completeAndNext(feb.ID)
		if rfc(mar.DueAt) != "2027-03-31T12:00:00Z" || mar.Title != "rent (paid by card)" {
			t.Fatalf("after the PATCHed Feb 28: due %s title %q, want 2027-03-31T12:00:00Z and the new title", rfc(mar.DueAt), mar.Title)
		}
		_, apr := e.completeAndNext(mar.ID)
		if rfc(apr.DueAt) != "2027-04-30T12:00:00Z" {
			t.Fatalf("after Mar 31: due %s, want 2027-04-30T12:00:00Z", rfc(apr.DueAt))
		}
		// A changed due_at re-anchors: from Apr 15 on, the 15th.
		e.update(apr.ID, client.TaskPatch{DueAt: client.Set(*at("2027-04-15T12:00:00Z"))})
		_, may := e.completeAndNext(apr.ID)
		if rfc(may.DueAt) != "2027-05-15T12:00:00Z" {
			t.Fatalf("after re-anchoring on Apr 15: due %s, want 2027-05-15T12:00:00Z", rfc(may.DueAt))
		}
	})

	// A daily series with a reminder and no due date, completed 4 days
	// late: the next reminder is the first slot of the reminder's daily
	// schedule (its time of day in Asia/Kolkata) after the completion, not
	// a reminder in the past; the series stays without due date; and it is
	// not delivered at once.
	t.Run("reminder-only series completed 4 days late", func(t *testing.T) {
		e := e.in(t)
		kolkata, err := time.LoadLocation("Asia/Kolkata")
		if err != nil {
			t.Fatal(err)
		}
		r0 := time.Now().UTC().Add(-4*24*time.Hour - time.Hour).Truncate(time.Second)
		first := e.create(client.NewTask{Title: "water the plants", Recurrence: client.RecurrenceDaily, Timezone: "Asia/Kolkata", ReminderAt: &r0})
		// Its one reminder had passed when it was set: it is kept, but not
		// pending.
		if len(first.Reminders) != 1 || first.Reminders[0].At == nil || !first.Reminders[0].At.Equal(r0) || first.ReminderAt != nil {
			t.Fatalf("created with a reminder 4 days ago: reminders %+v, reminder_at %s", first.Reminders, rfc(first.ReminderAt))
		}
		cur, curAt := first, r0
		var created []int64
		for i := range 3 {
			done, next := e.completeAndNext(cur.ID)
			created = append(created, next.ID)
			if done.CompletedAt == nil {
				t.Fatalf("completion %d: no completed_at in %+v", i+1, done)
			}
			// The first slot r0 + k days (Kolkata has no DST) after both
			// the previous reminder and the completion.
			want := r0
			for !want.After(*done.CompletedAt) || !want.After(curAt) {
				want = want.Add(24 * time.Hour)
			}
			if next.DueAt != nil || next.ReminderAt == nil || !next.ReminderAt.Equal(want) {
				t.Fatalf("completion %d (completed %s, reminder was %s): next due %s reminder %s, want no due date and reminder %s",
					i+1, rfc(done.CompletedAt), rfc(&curAt), rfc(next.DueAt), rfc(next.ReminderAt), rfc(&want))
			}
			curAt = *next.ReminderAt
			h0, m0, s0 := r0.In(kolkata).Clock()
			if h, m, s := next.ReminderAt.In(kolkata).Clock(); h != h0 || m != m0 || s != s0 {
				t.Fatalf("completion %d: reminder at %02d:%02d:%02d Kolkata, want %02d:%02d:%02d", i+1, h, m, s, h0, m0, s0)
			}
			cur = next
		}
		// The sweep runs every 2 s; the next reminders are in the future,
		// so none of the new occurrences is reminded.
		sweeps := len(e.logLines("reminder-service", "reminder sweep"))
		eventually(t, 30*time.Second, "three more sweeps ran", func() bool {
			return len(e.logLines("reminder-service", "reminder sweep")) >= sweeps+3
		})
		for _, id := range created {
			if n := e.inboxFor(id); len(n) != 0 {
				t.Errorf("task %d of the series was reminded at once: %+v", id, n)
			}
		}
	})
}

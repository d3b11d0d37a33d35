package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/browsertest"
)

// taskNamed is the user's one task titled title (open or closed), as the
// API answers it.
func (e *env) taskNamed(title string) client.Task {
	e.t.Helper()
	page, err := e.client.ListTasks(e.t.Context(), client.ListQuery{Q: title, Status: client.StatusAll})
	e.ok("list "+title, err)
	var out []client.Task
	for _, tk := range page.Tasks {
		if tk.Title == title {
			out = append(out, tk)
		}
	}
	if len(out) != 1 {
		e.t.Fatalf("%d tasks titled %q, want 1: %+v", len(out), title, out)
	}
	return out[0]
}

// click clicks the element sel.
func click(sel string) chromedp.Action { return chromedp.Click(sel, chromedp.ByQuery) }

// openForm opens the task form, for a new task or (id > 0) task id.
func openForm(t *testing.T, tab *browsertest.Tab, id int64) {
	t.Helper()
	if id == 0 {
		tab.Run(t, click(`#open-form`))
	} else {
		waitJS(t, tab, 15*time.Second, fmt.Sprintf("task %d is listed", id), fmt.Sprintf(`!!document.querySelector('[data-id="%d"] [data-testid=edit]')`, id))
		tab.Run(t, click(fmt.Sprintf(`[data-id="%d"] [data-testid=edit]`, id)))
	}
	tab.Run(t, chromedp.WaitVisible(`#t-title`, chromedp.ByQuery))
}

// save saves the form and waits until the dialog is closed.
func save(t *testing.T, tab *browsertest.Tab) {
	t.Helper()
	tab.Run(t, click(`[data-testid=form-save]`))
	waitJS(t, tab, 15*time.Second, "the form is saved and closed", `!document.querySelector('#task-dialog').open`)
}

// waitPreview waits until the repeat editor's preview shows rule (the
// canonical form the API answered) with summary, and returns the dates it
// lists, as instants.
func waitPreview(t *testing.T, tab *browsertest.Tab, rule, summary string) []time.Time {
	t.Helper()
	waitJS(t, tab, 15*time.Second, fmt.Sprintf("the preview shows %q for %s", summary, rule), fmt.Sprintf(`(() => {
  const b = document.querySelector('#r-preview');
  return !b.hidden && b.dataset.state === "ready" && b.dataset.rule === %q && document.querySelector('#r-summary').textContent === %q; })()`,
		rule, "Repeats "+summary))
	var raw []string
	tab.Eval(t, `[...document.querySelectorAll('#r-dates li')].map(li => li.dataset.at)`, &raw)
	out := make([]time.Time, len(raw))
	for i, s := range raw {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("preview date %q: %v", s, err)
		}
		out[i] = at
	}
	return out
}

// sameInstants says whether a and b are the same instants, in order.
func sameInstants(a, b []time.Time) bool {
	return slices.EqualFunc(a, b, func(x, y time.Time) bool { return x.Equal(y) })
}

// utcTimes parses RFC 3339 literals of a test.
func utcTimes(ss ...string) []time.Time {
	out := make([]time.Time, len(ss))
	for i, s := range ss {
		out[i] = *at(s)
	}
	return out
}

// reminderStrings are a task's reminders as "before PT15M" and "at
// <RFC 3339 UTC>", sorted.
func reminderStrings(rs []client.Reminder) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		if r.At != nil {
			out[i] = "at " + r.At.UTC().Format(time.RFC3339)
		} else {
			out[i] = "before " + r.Before
		}
	}
	slices.Sort(out)
	return out
}

// jsString evaluates js, a string expression, in tab.
func jsString(t *testing.T, tab *browsertest.Tab, js string) string {
	t.Helper()
	var s string
	tab.Eval(t, js, &s)
	return s
}

// The task form's repeat and reminders editors, the list's summaries,
// next reminders and Skip, in a real browser against the whole system:
// the rules the editor writes are the API's canonical ones, its preview
// is the API's (summary and dates), a saved rule loads back, reminders are
// added and removed, relative ones are refused without a due time, a
// skipped occurrence is followed by the next one, and all of it works by
// keyboard alone and passes axe.
func TestBrowserRules(t *testing.T) {
	e := startSystem(t)
	base := e.sys.Instances["web-app"].URL()
	alice := e.as("alice")
	tab := browsertest.NewPerson(t).Tab()
	tab.Run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#dev-user`, chromedp.ByQuery),
		chromedp.SendKeys(`#dev-user`, "alice"+kb.Enter, chromedp.ByQuery), chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))

	var biweekly, lastFriday client.Task
	t.Run("every 2 weeks on Monday and Thursday, until a date", func(t *testing.T) {
		alice := alice.in(t)
		openForm(t, tab, 0)
		tab.Run(t,
			chromedp.SendKeys(`#t-title`, "Team sync", chromedp.ByQuery),
			set(`#t-timezone`, "Europe/Berlin"),
			set(`#t-due`, "2030-01-07T09:00"), // a Monday
			set(`#r-preset`, "weekly"))
		// The due day is chosen for a new weekly rule.
		var days []string
		tab.Eval(t, `[...document.querySelectorAll('#r-days input:checked')].map(c => c.value)`, &days)
		if !slices.Equal(days, []string{"MO"}) {
			t.Errorf("days checked for a Monday due date: %v", days)
		}
		waitPreview(t, tab, "FREQ=WEEKLY;BYDAY=MO", "every week on Monday")
		tab.Run(t, click(`#r-day-TH`), set(`#r-interval`, "2"))
		if unit := jsString(t, tab, `document.querySelector('#r-unit').textContent`); unit != "weeks" {
			t.Errorf("the interval's unit reads %q", unit)
		}
		got := waitPreview(t, tab, "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", "every 2 weeks on Monday and Thursday")
		want := utcTimes("2030-01-07T08:00:00Z", "2030-01-10T08:00:00Z", "2030-01-21T08:00:00Z", "2030-01-24T08:00:00Z", "2030-02-04T08:00:00Z")
		if !sameInstants(got, want) {
			t.Errorf("preview dates %v, want %v", got, want)
		}
		// The end date is the end of that day in the task's zone, in UTC.
		tab.Run(t, click(`#r-end-until`), set(`#r-until`, "2030-03-31"))
		rule := "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20300331T215959Z"
		got = waitPreview(t, tab, rule, "every 2 weeks on Monday and Thursday, until 31 March 2030")
		if len(got) != 5 {
			t.Errorf("%d dates previewed, want the next 5", len(got))
		}
		engine, err := alice.client.PreviewRecurrence(t.Context(), rule, want[0], "Europe/Berlin", 5)
		alice.ok("preview through the API", err)
		if !sameInstants(got, engine.Occurrences) {
			t.Errorf("the page previews %v, the API %v", got, engine.Occurrences)
		}
		var listed string
		tab.Eval(t, `document.querySelector('#r-dates').innerText`, &listed)
		if !strings.Contains(listed, "Mon, Jan 7, 2030") || !strings.Contains(listed, "Thu, Jan 10, 2030") {
			t.Errorf("the dates read %q; want them with their weekdays, in the task's zone", listed)
		}
		tab.AssertNoSeriousAxe(t, "form with a weekly rule")
		shoot(t, tab, "form-repeat")
		save(t, tab)
		biweekly = alice.taskNamed("Team sync")
		if biweekly.RRule == nil || *biweekly.RRule != rule || biweekly.RepeatFrom != client.RepeatFromDue ||
			biweekly.Recurrence != client.RecurrenceWeekly || !biweekly.DueAt.Equal(want[0]) {
			t.Errorf("saved rrule %v, repeat_from %q, recurrence %q, due %v", deref(biweekly.RRule), biweekly.RepeatFrom, biweekly.Recurrence, biweekly.DueAt)
		}
	})

	t.Run("monthly on the last Friday, 3 times, from completion", func(t *testing.T) {
		alice := alice.in(t)
		openForm(t, tab, 0)
		tab.Run(t,
			chromedp.SendKeys(`#t-title`, "Pay the rent", chromedp.ByQuery),
			set(`#t-timezone`, "America/New_York"),
			set(`#t-due`, "2030-01-10T18:00"),
			set(`#r-preset`, "monthly-nth"))
		// A new rule starts on the due day's place in its month: the 2nd Thursday.
		if v := jsString(t, tab, `document.querySelector('#r-nth').value + document.querySelector('#r-nth-day').value`); v != "2TH" {
			t.Errorf("the weekday of the month starts at %q, want 2TH (10 January 2030)", v)
		}
		tab.Run(t, set(`#r-nth`, "-1"), set(`#r-nth-day`, "FR"), click(`#r-end-count`), set(`#r-count`, "3"), click(`#r-from-completion`))
		rule := "FREQ=MONTHLY;BYDAY=-1FR;COUNT=3"
		got := waitPreview(t, tab, rule, "every month on the last Friday, 3 times")
		// Fewer than five: the rule ends. The due day is not one; the
		// series starts on the first that is.
		want := utcTimes("2030-01-25T23:00:00Z", "2030-02-22T23:00:00Z", "2030-03-29T22:00:00Z")
		if !sameInstants(got, want) {
			t.Errorf("preview dates %v, want %v", got, want)
		}
		if title := jsString(t, tab, `document.querySelector('#r-dates-title').textContent`); !strings.Contains(title, "3") {
			t.Errorf("the dates are titled %q; want it to say these are all 3", title)
		}
		tab.AssertNoSeriousAxe(t, "form with a monthly rule")
		save(t, tab)
		lastFriday = alice.taskNamed("Pay the rent")
		if lastFriday.RRule == nil || *lastFriday.RRule != rule || lastFriday.RepeatFrom != client.RepeatFromCompletion ||
			!lastFriday.DueAt.Equal(want[0]) || lastFriday.SeriesIndex != 1 || lastFriday.LastInSeries {
			t.Errorf("saved rrule %v, repeat_from %q, due %v, index %d, last %v; want the due time moved to the first occurrence %v",
				deref(lastFriday.RRule), lastFriday.RepeatFrom, lastFriday.DueAt, lastFriday.SeriesIndex, lastFriday.LastInSeries, want[0])
		}
	})

	t.Run("a preview's refusal is shown at its field", func(t *testing.T) {
		openForm(t, tab, 0)
		tab.Run(t, chromedp.SendKeys(`#t-title`, "Never happens", chromedp.ByQuery), set(`#t-timezone`, "UTC"),
			set(`#t-due`, "2030-05-01T10:00"), set(`#r-preset`, "daily"), click(`#r-end-until`), set(`#r-until`, "2030-04-01"))
		waitJS(t, tab, 15*time.Second, "the API's refusal of a rule that never occurs is shown", `(() => {
  const p = document.querySelector('#t-rrule-error');
  return !p.hidden && p.textContent.includes("no occurrence") && document.querySelector('#r-preset').getAttribute("aria-invalid") === "true"
    && document.querySelector('#r-preset').getAttribute("aria-describedby").split(" ").includes("t-rrule-error"); })()`)
		// Client-side checks name their control: no day of the week.
		tab.Run(t, set(`#r-preset`, "weekly"), click(`#r-day-WE`)) // 1 May 2030 is a Wednesday: unchecked, none left
		waitJS(t, tab, 10*time.Second, "a weekly rule without days is refused at the days", `(() => {
  const p = document.querySelector('#t-rrule-error');
  return !p.hidden && p.textContent.includes("at least one day") && document.querySelector('#r-day-MO').getAttribute("aria-invalid") === "true"; })()`)
		tab.Run(t, click(`[data-testid=form-save]`))
		waitJS(t, tab, 10*time.Second, "saving is refused with focus on the days", `document.activeElement.id === "r-day-MO" && document.querySelector('#task-dialog').open`)
		tab.Run(t, click(`#form-cancel`))
	})

	t.Run("editing loads the rule back", func(t *testing.T) {
		alice := alice.in(t)
		openForm(t, tab, biweekly.ID)
		var s struct {
			Preset, Interval, End, Until string
			Days                         []string
		}
		tab.Eval(t, `({Preset: document.querySelector('#r-preset').value, Interval: document.querySelector('#r-interval').value,
  End: document.querySelector('[name=r-end]:checked').value, Until: document.querySelector('#r-until').value,
  Days: [...document.querySelectorAll('#r-days input:checked')].map(c => c.value)})`, &s)
		if s.Preset != "weekly" || s.Interval != "2" || s.End != "until" || s.Until != "2030-03-31" || !slices.Equal(s.Days, []string{"MO", "TH"}) {
			t.Errorf("the editor loaded %+v", s)
		}
		waitPreview(t, tab, *biweekly.RRule, "every 2 weeks on Monday and Thursday, until 31 March 2030")
		// Saving other fields leaves the rule alone.
		tab.Run(t, set(`#t-description`, "in the small room"))
		save(t, tab)
		got := alice.get(biweekly.ID)
		if got.Description != "in the small room" || deref(got.RRule) != *biweekly.RRule || got.Version != biweekly.Version+1 {
			t.Errorf("after saving the description: rrule %s, version %d (was %d)", deref(got.RRule), got.Version, biweekly.Version)
		}
		biweekly = got

		openForm(t, tab, lastFriday.ID)
		var m struct{ Preset, Nth, NthDay, End, Count string }
		var from bool
		tab.Eval(t, `({Preset: document.querySelector('#r-preset').value, Nth: document.querySelector('#r-nth').value,
  NthDay: document.querySelector('#r-nth-day').value, End: document.querySelector('[name=r-end]:checked').value,
  Count: document.querySelector('#r-count').value})`, &m)
		tab.Eval(t, `document.querySelector('#r-from-completion').checked`, &from)
		if m != (struct{ Preset, Nth, NthDay, End, Count string }{"monthly-nth", "-1", "FR", "count", "3"}) || !from {
			t.Errorf("the editor loaded %+v, from completion %v", m, from)
		}
		tab.Run(t, click(`#form-cancel`))

		// The simple repeat of an older client loads as its preset.
		daily := alice.create(client.NewTask{Title: "Water the plants", Recurrence: client.RecurrenceDaily, DueAt: at("2030-02-01T08:00:00Z")})
		openForm(t, tab, daily.ID)
		if p := jsString(t, tab, `document.querySelector('#r-preset').value`); p != "daily" {
			t.Errorf("a daily task loads as %q", p)
		}
		waitPreview(t, tab, "FREQ=DAILY", "every day")
		tab.Run(t, click(`#form-cancel`))

		// A rule the editor has no controls for is shown, summarised and kept.
		custom := alice.create(client.NewTask{Title: "Clocks change", RRule: "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", DueAt: at("2030-03-31T01:00:00Z")})
		openForm(t, tab, custom.ID)
		var c struct {
			Preset, Rule string
			Hidden       bool
		}
		tab.Eval(t, `({Preset: document.querySelector('#r-preset').value, Rule: document.querySelector('#r-custom-rule').textContent,
  Hidden: document.querySelector('#r-custom').hidden})`, &c)
		if c.Preset != "custom" || c.Rule != deref(custom.RRule) || c.Hidden {
			t.Errorf("a custom rule shows as %+v", c)
		}
		waitPreview(t, tab, deref(custom.RRule), "every year on the last Sunday of March")
		tab.Run(t, set(`#t-title`, "Clocks go forward"))
		save(t, tab)
		if got := alice.get(custom.ID); deref(got.RRule) != deref(custom.RRule) || got.Title != "Clocks go forward" {
			t.Errorf("after saving: title %q, rrule %s; want the rule kept", got.Title, deref(got.RRule))
		}
	})

	var reminded client.Task
	t.Run("reminders: presets, a custom one, remove, save", func(t *testing.T) {
		alice := alice.in(t)
		openForm(t, tab, 0)
		tab.Run(t, chromedp.SendKeys(`#t-title`, "Dentist", chromedp.ByQuery), set(`#t-timezone`, "Europe/Berlin"), set(`#t-due`, "2030-01-08T10:00"))
		for _, p := range []string{"PT0S", "PT15M", "P1D"} {
			tab.Run(t, set(`#rem-kind`, p), click(`#rem-add`))
		}
		tab.Run(t, set(`#rem-kind`, "before"), chromedp.WaitVisible(`#rem-amount`, chromedp.ByQuery),
			set(`#rem-amount`, "90"), set(`#rem-unit`, "minutes"), click(`#rem-add`))
		tab.Run(t, set(`#rem-kind`, "at"), chromedp.WaitVisible(`#rem-at`, chromedp.ByQuery), set(`#rem-at`, "2030-01-06T20:00"), click(`#rem-add`))
		var labels []string
		tab.Eval(t, `[...document.querySelectorAll('[data-testid=reminder] .rem-text')].map(s => s.textContent)`, &labels)
		if len(labels) != 5 || labels[0] != "At the due time" || labels[1] != "15 minutes before" || labels[2] != "1 day before" ||
			labels[3] != "1 hour 30 minutes before" || !strings.HasPrefix(labels[4], "At Jan 6, 2030") {
			t.Errorf("the reminders read %q", labels)
		}
		// The same one twice is refused.
		tab.Run(t, set(`#rem-kind`, "PT15M"), click(`#rem-add`))
		waitJS(t, tab, 5*time.Second, "a second 15 minutes before is refused", `document.querySelector('#t-reminders-error').textContent.includes("already")`)
		tab.AssertNoSeriousAxe(t, "form with reminders")
		shoot(t, tab, "form-reminders")
		tab.Run(t, click(`[data-testid=reminder][data-before="PT15M"] [data-testid=rem-remove]`))
		save(t, tab)
		reminded = alice.taskNamed("Dentist")
		want := []string{"at 2030-01-06T19:00:00Z", "before P1D", "before PT0S", "before PT1H30M"}
		if got := reminderStrings(reminded.Reminders); !slices.Equal(got, want) {
			t.Errorf("saved reminders %q, want %q", got, want)
		}
		if reminded.ReminderAt == nil || !reminded.ReminderAt.Equal(*at("2030-01-06T19:00:00Z")) {
			t.Errorf("next reminder %v, want the earliest, 6 January 20:00 Berlin", reminded.ReminderAt)
		}
		// They load back, and an unchanged list is not sent again.
		openForm(t, tab, reminded.ID)
		tab.Eval(t, `[...document.querySelectorAll('[data-testid=reminder] .rem-text')].map(s => s.textContent)`, &labels)
		if len(labels) != 4 {
			t.Errorf("the reminders load back as %q", labels)
		}
		save(t, tab)
		if got := alice.get(reminded.ID); got.Version != reminded.Version {
			t.Errorf("saving an unchanged form wrote the task (version %d, was %d)", got.Version, reminded.Version)
		}
	})

	t.Run("a reminder before the due time needs a due time", func(t *testing.T) {
		openForm(t, tab, 0)
		var s struct {
			Disabled []string
			Kind     string
			Hint     string
			Hidden   bool
		}
		state := `({Disabled: [...document.querySelectorAll('#rem-kind option:disabled')].map(o => o.value), Kind: document.querySelector('#rem-kind').value,
  Hint: document.querySelector('#rem-hint').textContent, Hidden: document.querySelector('#rem-hint').hidden})`
		tab.Eval(t, state, &s)
		if len(s.Disabled) != 7 || s.Kind != "at" || s.Hidden || !strings.Contains(s.Hint, "need a due time") {
			t.Errorf("without a due time the adder shows %+v; want the relative choices disabled and why", s)
		}
		tab.Run(t, set(`#t-due`, "2030-06-01T09:00"))
		tab.Eval(t, state, &s)
		if len(s.Disabled) != 0 || !s.Hidden {
			t.Errorf("with a due time the adder shows %+v", s)
		}
		// A relative reminder whose due time is then cleared stops the save.
		tab.Run(t, chromedp.SendKeys(`#t-title`, "No due after all", chromedp.ByQuery), set(`#rem-kind`, "PT15M"), click(`#rem-add`), set(`#t-due`, ""))
		waitJS(t, tab, 5*time.Second, "the reminder is marked", `document.querySelector('[data-testid=reminder]').innerText.includes("needs a due time")`)
		tab.Run(t, click(`[data-testid=form-save]`))
		waitJS(t, tab, 10*time.Second, "the save is refused at the reminders", `(() => {
  const p = document.querySelector('#t-reminders-error');
  return !p.hidden && p.textContent.includes("need a due time") && document.activeElement.id === "rem-kind"
    && document.querySelector('#rem-kind').getAttribute("aria-describedby").split(" ").includes("t-reminders-error"); })()`)
		// At most ten: 15 minutes before and nine more.
		tab.Run(t, set(`#t-due`, "2030-06-01T09:00"), set(`#rem-kind`, "before"), set(`#rem-unit`, "minutes"))
		for i := 1; i <= 9; i++ {
			tab.Run(t, set(`#rem-amount`, fmt.Sprint(i)), click(`#rem-add`))
		}
		tab.Run(t, set(`#rem-amount`, "11"), click(`#rem-add`))
		waitJS(t, tab, 5*time.Second, "an eleventh reminder is refused", `document.querySelectorAll('[data-testid=reminder]').length === 10
  && document.querySelector('#t-reminders-error').textContent.includes("at most 10") && document.querySelector('#rem-hint').textContent.includes("at most 10")`)
		tab.Run(t, click(`#form-cancel`))
		page, err := alice.client.ListTasks(t.Context(), client.ListQuery{Q: "No due after all", Status: client.StatusAll})
		alice.ok("list", err)
		if len(page.Tasks) != 0 {
			t.Errorf("the refused task was saved: %+v", page.Tasks)
		}
	})

	t.Run("the list shows the rule and the next reminder", func(t *testing.T) {
		row := func(id int64) string { return fmt.Sprintf(`document.querySelector('[data-id="%d"]')`, id) }
		waitJS(t, tab, 15*time.Second, "the list shows the rule's summary", fmt.Sprintf(`(() => { const r = %s; return !!r &&
  r.querySelector('[data-testid=repeat-summary]').textContent === "Repeats every 2 weeks on Monday and Thursday, until 31 March 2030"; })()`, row(biweekly.ID)))
		waitJS(t, tab, 15*time.Second, "the list shows the monthly rule's summary", fmt.Sprintf(`(() => { const r = %s; return !!r &&
  r.querySelector('[data-testid=repeat-summary]').textContent === "Repeats every month on the last Friday, 3 times"; })()`, row(lastFriday.ID)))
		var next, want string
		tab.Eval(t, row(reminded.ID)+`.querySelector('[data-testid=next-reminder]').textContent`, &next)
		tab.Eval(t, fmt.Sprintf(`new Intl.DateTimeFormat(undefined, {timeZone: "Europe/Berlin", dateStyle: "medium", timeStyle: "short"}).format(new Date(%q))`,
			reminded.ReminderAt.Format(time.RFC3339)), &want)
		if next != "Next reminder "+want+" (Europe/Berlin)" {
			t.Errorf("the next reminder reads %q, want %q in the task's zone", next, want)
		}
		var skips []int64
		tab.Eval(t, `[...document.querySelectorAll('[data-testid=task]')].filter(li => li.querySelector('[data-testid=skip]')).map(li => Number(li.dataset.id))`, &skips)
		if !slices.Contains(skips, biweekly.ID) || slices.Contains(skips, reminded.ID) {
			t.Errorf("Skip is offered on tasks %v; want it on the repeating ones only", skips)
		}
		tab.AssertNoSeriousAxe(t, "task list with rules")
		shoot(t, tab, "list-rules")
	})

	t.Run("skip closes the occurrence and the next one appears", func(t *testing.T) {
		alice := alice.in(t)
		tab.Run(t, click(fmt.Sprintf(`[data-id="%d"] [data-testid=skip]`, biweekly.ID)))
		// The next one is Thursday 10 January, 09:00 in Berlin.
		waitJS(t, tab, 60*time.Second, "the next occurrence is listed", fmt.Sprintf(`[...document.querySelectorAll('[data-testid=task]')].some(li =>
  li.dataset.id !== "%d" && li.innerText.includes("Team sync") && li.innerText.includes("Jan 10, 2030"))`, biweekly.ID))
		waitJS(t, tab, 10*time.Second, "the skipped one leaves the open list", fmt.Sprintf(`!document.querySelector('[data-id="%d"]')`, biweekly.ID))
		skipped := alice.get(biweekly.ID)
		if !skipped.Skipped || !skipped.Completed {
			t.Errorf("after Skip: skipped %v, completed %v", skipped.Skipped, skipped.Completed)
		}
		nexts := alice.nextOf(biweekly.ID)
		if len(nexts) != 1 || !nexts[0].DueAt.Equal(*at("2030-01-10T08:00:00Z")) || deref(nexts[0].RRule) != *biweekly.RRule || nexts[0].SeriesIndex != 2 {
			t.Fatalf("next occurrences %+v", nexts)
		}
		tab.Run(t, set(`#f-status`, "all"))
		waitJS(t, tab, 15*time.Second, "the closed occurrence says skipped", fmt.Sprintf(`(() => { const r = document.querySelector('[data-id="%d"]');
  return !!r && !!r.querySelector('[data-testid=skipped]') && !r.querySelector('[data-testid=skip]'); })()`, biweekly.ID))
		// Its history says so too.
		tab.Run(t, click(fmt.Sprintf(`[data-id="%d"] [data-testid=task-title]`, biweekly.ID)))
		waitJS(t, tab, 15*time.Second, "the history shows the skip", `document.querySelector('#history').innerText.includes("Skipped")`)
		tab.Run(t, click(`#detail-close`))

		// The last of a series that ends says so.
		second := alice.skipAndNext(lastFriday.ID)
		third := alice.skipAndNext(second.ID)
		if !third.LastInSeries || third.SeriesIndex != 3 {
			t.Fatalf("the third of COUNT=3: index %d, last %v", third.SeriesIndex, third.LastInSeries)
		}
		waitJS(t, tab, 15*time.Second, "the last occurrence is marked", fmt.Sprintf(`(() => { const r = document.querySelector('[data-id="%d"]');
  return !!r && !!r.querySelector('[data-testid=last-in-series]'); })()`, third.ID))
		tab.Run(t, set(`#f-status`, "open"))
	})

	t.Run("axe on the form with both editors open", func(t *testing.T) {
		openForm(t, tab, 0)
		tab.Run(t, set(`#t-due`, "2030-01-07T09:00"), set(`#r-preset`, "monthly-day"), click(`#r-end-count`),
			set(`#rem-kind`, "before"), chromedp.WaitVisible(`#rem-amount`, chromedp.ByQuery))
		waitPreview(t, tab, "FREQ=MONTHLY;BYMONTHDAY=7;COUNT=1", "every month on the 7th, once")
		tab.AssertNoSeriousAxe(t, "form, monthly rule and a custom reminder")
		tab.Run(t, set(`#r-preset`, "weekly"), click(`#r-end-until`), set(`#rem-kind`, "at"))
		tab.AssertNoSeriousAxe(t, "form, weekly rule and a reminder at a time")
		tab.Run(t, click(`#form-cancel`))
	})

	t.Run("keyboard only", func(t *testing.T) {
		keyboardRules(t, alice, tab)
	})

	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// skipAndNext skips task id through the API, waits for its next
// occurrence and returns it.
func (e *env) skipAndNext(id int64) client.Task {
	e.t.Helper()
	e.skip(id)
	return e.waitNext(id)
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// backTab stands for Shift+Tab in keyboardRules.
const backTab = "shift+tab"

// keyboardRules makes a task with a rule and reminders with the keyboard
// alone.
func keyboardRules(t *testing.T, alice *env, tab *browsertest.Tab) {
	alice = alice.in(t)
	step := 0
	// press sends keys, then checks that focus is on the element with id
	// want.
	press := func(want string, keys ...string) {
		t.Helper()
		step++
		for _, k := range keys {
			if k == backTab {
				tab.Run(t, chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(input.ModifierShift)))
				continue
			}
			tab.Run(t, chromedp.KeyEvent(k))
		}
		if got := jsString(t, tab, `document.activeElement.id || document.activeElement.dataset.testid || document.activeElement.tagName`); got != want {
			t.Fatalf("step %d: focus is on %q, want %q", step, got, want)
		}
	}
	value := func(sel, want string) {
		t.Helper()
		if got := jsString(t, tab, fmt.Sprintf(`String(document.querySelector(%q).value)`, sel)); got != want {
			t.Fatalf("step %d: %s is %q, want %q", step, sel, got, want)
		}
	}
	checked := func(sel string, want bool) {
		t.Helper()
		var got bool
		tab.Eval(t, fmt.Sprintf(`document.querySelector(%q).checked`, sel), &got)
		if got != want {
			t.Fatalf("step %d: %s checked %v, want %v", step, sel, got, want)
		}
	}
	tab.Run(t, chromedp.Focus(`#quick-title`, chromedp.ByQuery))
	press("open-form", kb.Tab, kb.Tab)
	press("t-title", kb.Enter)
	press("t-title", "Keyboard rule")
	press("t-due", kb.Tab, kb.Tab, kb.Tab, kb.Tab)
	press("t-due", "01", "07", "2030", kb.Tab, "09", "00", "A")
	value("#t-due", "2030-01-07T09:00")
	// Tab moves through the fields of the date and time, and its picker.
	press("t-timezone", kb.Tab, kb.Tab)
	tab.Run(t, set(`#t-timezone`, "")) // the zone is typed, not chosen from the browser's
	press("t-timezone", "Europe/Berlin")
	// The repeat: every 2 weeks on Monday and Thursday, 6 times, from completion.
	press("r-preset", kb.Tab)
	press("r-preset", kb.ArrowDown, kb.ArrowDown, kb.ArrowDown)
	value("#r-preset", "weekly")
	press("r-interval", kb.Tab)
	press("r-interval", kb.ArrowUp)
	value("#r-interval", "2")
	press("r-day-MO", kb.Tab)
	checked("#r-day-MO", true)
	press("r-day-TH", kb.Tab, kb.Tab, kb.Tab)
	press("r-day-TH", " ")
	checked("#r-day-TH", true)
	var outline string
	tab.Eval(t, `getComputedStyle(document.activeElement).outlineStyle`, &outline)
	if outline == "none" || outline == "" {
		t.Errorf("the focused day has no visible outline")
	}
	press("r-end-never", kb.Tab, kb.Tab, kb.Tab, kb.Tab)
	press("r-end-count", kb.ArrowDown, kb.ArrowDown)
	checked("#r-end-count", true)
	press("r-count", kb.Tab)
	press("r-count", "6")
	value("#r-count", "6")
	press("r-from-completion", kb.Tab)
	press("r-from-completion", " ")
	checked("#r-from-completion", true)
	rule := "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=6"
	waitPreview(t, tab, rule, "every 2 weeks on Monday and Thursday, 6 times")
	// The reminders: at the due time, 15 minutes and 1 day before, and 45
	// minutes before, typed; then 15 minutes before is removed.
	press("rem-kind", kb.Tab)
	value("#rem-kind", "PT0S")
	press("rem-add", kb.Tab)
	press("rem-add", kb.Enter)
	press("rem-kind", backTab)
	press("rem-kind", kb.ArrowDown, kb.ArrowDown)
	value("#rem-kind", "PT15M")
	press("rem-add", kb.Tab)
	press("rem-add", " ")
	press("rem-kind", backTab)
	press("rem-kind", kb.ArrowDown, kb.ArrowDown, kb.ArrowDown)
	value("#rem-kind", "P1D")
	press("rem-add", kb.Tab, kb.Enter)
	press("rem-kind", backTab)
	press("rem-kind", kb.ArrowDown)
	value("#rem-kind", "before")
	press("rem-amount", kb.Tab)
	press("rem-amount", "45")
	press("rem-unit", kb.Tab)
	press("rem-unit", kb.ArrowUp, kb.ArrowUp)
	value("#rem-unit", "minutes")
	press("rem-add", kb.Tab, kb.Enter)
	var labels []string
	tab.Eval(t, `[...document.querySelectorAll('[data-testid=reminder] .rem-text')].map(s => s.textContent)`, &labels)
	if !slices.Equal(labels, []string{"At the due time", "15 minutes before", "1 day before", "45 minutes before"}) {
		t.Fatalf("the reminders read %q", labels)
	}
	// Back to the second reminder's Remove: past the unit, the amount, the
	// adder and the Remove buttons of the fourth and third.
	press("rem-remove", backTab, backTab, backTab, backTab, backTab, backTab)
	if l := jsString(t, tab, `document.activeElement.getAttribute("aria-label")`); l != "Remove reminder: 15 minutes before" {
		t.Fatalf("focus is on %q", l)
	}
	press("rem-remove", kb.Enter)
	if l := jsString(t, tab, `document.activeElement.getAttribute("aria-label")`); l != "Remove reminder: 1 day before" {
		t.Errorf("after removing, focus is on %q, want the reminder that took its place", l)
	}
	// On to Save.
	press("form-save", kb.Tab, kb.Tab, kb.Tab, kb.Tab, kb.Tab, kb.Tab, kb.Tab)
	press("form-save", kb.Enter)
	waitJS(t, tab, 15*time.Second, "the form is saved and closed", `!document.querySelector('#task-dialog').open`)
	got := alice.taskNamed("Keyboard rule")
	if deref(got.RRule) != rule || got.RepeatFrom != client.RepeatFromCompletion || got.Timezone != "Europe/Berlin" ||
		!got.DueAt.Equal(*at("2030-01-07T08:00:00Z")) {
		t.Errorf("saved rrule %s, repeat_from %q, zone %q, due %v", deref(got.RRule), got.RepeatFrom, got.Timezone, got.DueAt)
	}
	if rs := reminderStrings(got.Reminders); !slices.Equal(rs, []string{"before P1D", "before PT0S", "before PT45M"}) {
		t.Errorf("saved reminders %q", rs)
	}
	// Skip, from the task's title: Tab to Skip, Enter.
	waitJS(t, tab, 15*time.Second, "the task is listed with Skip", fmt.Sprintf(`!!document.querySelector('[data-id="%d"] [data-testid=skip]')`, got.ID))
	tab.Run(t, chromedp.Focus(fmt.Sprintf(`[data-id="%d"] [data-testid=task-title]`, got.ID), chromedp.ByQuery))
	press("skip", kb.Tab)
	tab.Run(t, chromedp.KeyEvent(kb.Enter))
	// From completion: the next one is the rule's first Monday or
	// Thursday after today, at 09:00 in Berlin.
	waitJS(t, tab, 60*time.Second, "the next occurrence is listed", fmt.Sprintf(`[...document.querySelectorAll('[data-testid=task]')].some(li =>
  li.dataset.id !== "%d" && li.innerText.includes("Keyboard rule"))`, got.ID))
	if !alice.get(got.ID).Skipped {
		t.Errorf("Enter on Skip did not skip")
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if next := alice.nextOf(got.ID); len(next) != 1 || next[0].DueAt == nil || next[0].DueAt.Before(time.Now()) ||
		(next[0].DueAt.In(berlin).Weekday() != time.Monday && next[0].DueAt.In(berlin).Weekday() != time.Thursday) ||
		next[0].DueAt.In(berlin).Hour() != 9 {
		t.Errorf("next occurrences %+v", next)
	}
	if f := jsString(t, tab, `document.activeElement.dataset.testid || document.activeElement.tagName`); f != "task-title" {
		t.Errorf("after Skip focus is on %q, want a task of the list", f)
	}
}

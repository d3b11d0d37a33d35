package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/browsertest"
)

// waitJS polls js in tab until it is true.
func waitJS(t *testing.T, tab *browsertest.Tab, timeout time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		tab.Eval(t, js, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var body string
			tab.Eval(t, `document.body.innerText.slice(0, 2000)`, &body)
			t.Fatalf("timed out after %s waiting until %s; the page shows:\n%s", timeout, what, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// titles are the titles of the tasks the page lists, in order.
func titles(t *testing.T, tab *browsertest.Tab) []string {
	t.Helper()
	var out []string
	tab.Eval(t, `[...document.querySelectorAll('[data-testid=task] [data-testid=task-title]')].map(e => e.textContent)`, &out)
	return out
}

const listed = `[...document.querySelectorAll('[data-testid=task-title]')].some(e => e.textContent === %q)`

// set sets a control's value as a person would change it: input and
// change events follow.
func set(sel, value string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
  e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`, sel, value), nil)
}

func shoot(t *testing.T, tab *browsertest.Tab, name string) {
	t.Helper()
	tab.Screenshot(t, name+"-desktop", 1280, 800)
	tab.Screenshot(t, name+"-phone", 390, 844)
}

// The web app in a real browser against the whole real system: sign-in,
// every field of a task, errors at their fields, filters, a recurring
// task's next occurrence, the history, a reminder arriving live in two
// pages and as a browser notification and nowhere else, a cross-site post
// refused, creation by keyboard alone, and axe on every view.
func TestWebAppInABrowser(t *testing.T) {
	e := startSystem(t)
	base := e.sys.Instances["web-app"].URL()
	aliceAPI := e.as("alice").client

	alice := browsertest.NewPerson(t)
	tab := alice.Tab()
	signIn := func(tab *browsertest.Tab, user string) {
		t.Helper()
		tab.Run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#dev-user`, chromedp.ByQuery),
			chromedp.SendKeys(`#dev-user`, user+kb.Enter, chromedp.ByQuery), chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))
	}

	t.Run("sign in and out", func(t *testing.T) {
		tab.Run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#dev-user`, chromedp.ByQuery))
		tab.AssertNoSeriousAxe(t, "sign-in")
		shoot(t, tab, "signin")
		// A bad name is shown at its field.
		tab.Run(t, chromedp.SendKeys(`#dev-user`, "no spaces"+kb.Enter, chromedp.ByQuery), chromedp.WaitVisible(`#dev-user-error`, chromedp.ByQuery))
		var invalid string
		tab.Run(t, chromedp.AttributeValue(`#dev-user`, "aria-invalid", &invalid, nil, chromedp.ByQuery))
		if invalid != "true" {
			t.Errorf("the refused name's field is not marked invalid")
		}
		signIn(tab, "alice")
		var who string
		tab.Run(t, chromedp.Text(`#user-name`, &who, chromedp.ByQuery))
		if !strings.Contains(who, "alice") {
			t.Errorf("header shows %q", who)
		}
		tab.Run(t, chromedp.Click(`#signout`, chromedp.ByQuery), chromedp.WaitVisible(`#dev-user`, chromedp.ByQuery))
		var signedIn bool
		tab.Eval(t, `fetch("/session").then(r => r.json()).then(s => s.signed_in)`, &signedIn)
		if signedIn {
			t.Errorf("still signed in after sign-out")
		}
		var status int
		tab.Eval(t, `fetch("/api/tasks").then(r => r.status)`, &status)
		if status != http.StatusUnauthorized {
			t.Errorf("API after sign-out: %d", status)
		}
		signIn(tab, "alice")
		tab.AssertNoSeriousAxe(t, "task list")
	})

	var weekly client.Task
	t.Run("create with every field", func(t *testing.T) {
		tab.Run(t,
			chromedp.Click(`#open-form`, chromedp.ByQuery), chromedp.WaitVisible(`#t-title`, chromedp.ByQuery),
			chromedp.SendKeys(`#t-title`, "Plan the week", chromedp.ByQuery),
			chromedp.SendKeys(`#t-description`, "Look at the calendar", chromedp.ByQuery),
			chromedp.SetValue(`#t-priority`, "high", chromedp.ByQuery),
			chromedp.SendKeys(`#t-tags`, "home, errands", chromedp.ByQuery),
			chromedp.SetValue(`#t-due`, "2030-07-01T09:30", chromedp.ByQuery),
			chromedp.SetValue(`#t-timezone`, "America/New_York", chromedp.ByQuery),
			set(`#r-preset`, "weekly"), // on the due day, a Monday
			set(`#rem-kind`, "at"), set(`#rem-at`, "2030-07-01T09:00"), chromedp.Click(`#rem-add`, chromedp.ByQuery),
		)
		tab.AssertNoSeriousAxe(t, "task form")
		shoot(t, tab, "form")
		tab.Run(t, chromedp.Click(`[data-testid=form-save]`, chromedp.ByQuery))
		waitJS(t, tab, 15*time.Second, "the new task is listed", fmt.Sprintf(listed, "Plan the week"))
		page, err := aliceAPI.ListTasks(t.Context(), client.ListQuery{Q: "Plan the week"})
		e.ok("list", err)
		if len(page.Tasks) != 1 {
			t.Fatalf("%d tasks named Plan the week", len(page.Tasks))
		}
		weekly = page.Tasks[0]
		due, rem := weekly.DueAt, weekly.ReminderAt
		if weekly.Description != "Look at the calendar" || weekly.Priority != "high" || !slices.Equal(weekly.Tags, []string{"home", "errands"}) ||
			weekly.Recurrence != "weekly" || weekly.RRule == nil || *weekly.RRule != "FREQ=WEEKLY;BYDAY=MO" ||
			weekly.Timezone != "America/New_York" || due == nil || rem == nil ||
			!due.Equal(time.Date(2030, 7, 1, 13, 30, 0, 0, time.UTC)) || !rem.Equal(time.Date(2030, 7, 1, 13, 0, 0, 0, time.UTC)) {
			t.Errorf("stored %+v; want 09:30 and 09:00 New York time (13:30Z, 13:00Z)", weekly)
		}
		var row string
		tab.Eval(t, fmt.Sprintf(`[...document.querySelectorAll('[data-testid=task]')].find(li => li.innerText.includes(%q)).innerText`, "Plan the week"), &row)
		if !strings.Contains(row, "9:30") || !strings.Contains(row, "America/New_York") || strings.Contains(row, "13:30") {
			t.Errorf("the list shows %q; want the time in the task's zone, named", row)
		}
	})

	t.Run("a validation error is shown at its field", func(t *testing.T) {
		tab.Run(t,
			chromedp.Click(`#open-form`, chromedp.ByQuery), chromedp.WaitVisible(`#t-title`, chromedp.ByQuery),
			chromedp.SendKeys(`#t-title`, "Too long a tag", chromedp.ByQuery),
			chromedp.SendKeys(`#t-tags`, strings.Repeat("x", 51), chromedp.ByQuery),
			chromedp.Click(`[data-testid=form-save]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#t-tags-error`, chromedp.ByQuery))
		var msg, invalid string
		tab.Run(t, chromedp.Text(`#t-tags-error`, &msg, chromedp.ByQuery),
			chromedp.AttributeValue(`#t-tags`, "aria-invalid", &invalid, nil, chromedp.ByQuery))
		if !strings.Contains(msg, "50") || invalid != "true" {
			t.Errorf("tags error %q, aria-invalid %q", msg, invalid)
		}
		var focused string
		tab.Eval(t, `document.activeElement.id`, &focused)
		if focused != "t-tags" {
			t.Errorf("focus is on %q, want the field in error", focused)
		}
		tab.Run(t, chromedp.Click(`#form-cancel`, chromedp.ByQuery))
	})

	t.Run("filter, search and sort", func(t *testing.T) {
		for _, nt := range []client.NewTask{
			{Title: "Buy milk", Priority: "low", Tags: []string{"shop"}},
			{Title: "Call bob", Priority: "medium"},
			{Title: "Alpha report", Priority: "medium", Tags: []string{"work"}},
		} {
			_, err := aliceAPI.CreateTask(t.Context(), nt)
			e.ok("create "+nt.Title, err)
		}
		waitJS(t, tab, 15*time.Second, "the API's tasks appear live", fmt.Sprintf(listed, "Alpha report"))
		tab.Run(t, set(`#f-q`, "milk"))
		waitJS(t, tab, 10*time.Second, "search shows only Buy milk", `(() => { const t = [...document.querySelectorAll('[data-testid=task-title]')].map(e => e.textContent); return t.length === 1 && t[0] === "Buy milk"; })()`)
		tab.Run(t, set(`#f-q`, ""), set(`#f-tag`, "work"))
		waitJS(t, tab, 10*time.Second, "tag work shows only Alpha report", `(() => { const t = [...document.querySelectorAll('[data-testid=task-title]')].map(e => e.textContent); return t.length === 1 && t[0] === "Alpha report"; })()`)
		tab.Run(t, set(`#f-tag`, ""), set(`#f-priority`, "medium"))
		waitJS(t, tab, 10*time.Second, "priority medium shows the two medium tasks", `[...document.querySelectorAll('[data-testid=task-title]')].length === 2`)
		tab.Run(t, set(`#f-priority`, ""), set(`#f-sort`, "title"))
		waitJS(t, tab, 10*time.Second, "sorted by title", `(() => { const t = [...document.querySelectorAll('[data-testid=task-title]')].map(e => e.textContent); return t.length >= 4 && t[0] === "Alpha report"; })()`)
		got := titles(t, tab)
		if !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) {
			t.Errorf("sorted by title: %v", got)
		}
		tab.Run(t, set(`#f-sort`, "due_at"))
		waitJS(t, tab, 10*time.Second, "sorted by due date: the only task with one first", `document.querySelector('[data-testid=task-title]').textContent === "Plan the week"`)
	})

	var next client.Task
	t.Run("complete a recurring task and see the next occurrence", func(t *testing.T) {
		tab.Run(t, chromedp.Click(fmt.Sprintf(`[data-id="%d"] [data-testid=complete]`, weekly.ID), chromedp.ByQuery))
		waitJS(t, tab, 30*time.Second, "the next occurrence is listed, due a week later",
			fmt.Sprintf(`[...document.querySelectorAll('[data-testid=task]')].some(li => li.dataset.id !== "%d" && li.innerText.includes("Plan the week") && li.innerText.includes("Jul 8, 2030"))`, weekly.ID))
		nexts := e.as("alice").nextOf(weekly.ID)
		if len(nexts) != 1 {
			t.Fatalf("%d next occurrences", len(nexts))
		}
		next = nexts[0]
	})

	t.Run("history timeline", func(t *testing.T) {
		tab.Run(t, chromedp.Click(fmt.Sprintf(`[data-id="%d"] [data-testid=task-title]`, next.ID), chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=history-entry]`, chromedp.ByQuery))
		var text string
		tab.Run(t, chromedp.Text(`#history`, &text, chromedp.ByQuery))
		if !strings.Contains(text, "Created") || !strings.Contains(text, "by alice") || !strings.Contains(text, "series of task "+strconv.FormatInt(weekly.ID, 10)) {
			t.Errorf("history of the next occurrence: %q", text)
		}
		tab.AssertNoSeriousAxe(t, "task detail")
		shoot(t, tab, "detail")
		tab.Run(t, chromedp.Click(`#detail-close`, chromedp.ByQuery))
		// The completed one: created, then completed, with who and when.
		tab.Run(t, set(`#f-status`, "all"))
		waitJS(t, tab, 10*time.Second, "the completed task is listed", fmt.Sprintf(`!!document.querySelector('[data-id="%d"]')`, weekly.ID))
		tab.Run(t, chromedp.Click(fmt.Sprintf(`[data-id="%d"] [data-testid=task-title]`, weekly.ID), chromedp.ByQuery))
		waitJS(t, tab, 10*time.Second, "the original's history shows its completion", `document.querySelector('#history').innerText.includes("Completed")`)
		tab.Run(t, chromedp.Click(`#detail-close`, chromedp.ByQuery), set(`#f-status`, "open"))
	})

	t.Run("a reminder arrives live in two pages and as a browser notification, and nowhere else", func(t *testing.T) {
		alice.GrantNotifications(t, base)
		tab.Run(t, chromedp.Reload(), chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))
		second := alice.NewTab(t)
		second.GrantNotifications(t, base)
		second.Run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))
		bob := browsertest.NewPerson(t)
		bobTab := bob.Tab()
		bob.GrantNotifications(t, base)
		signIn(bobTab, "bob")
		var unreadBefore int
		tab.Eval(t, `Number(document.querySelector('#unread').textContent)`, &unreadBefore)
		// The streams are open before the reminder is due.
		for _, p := range []*browsertest.Tab{tab, second, bobTab} {
			waitJS(t, p, 10*time.Second, "the page's stream is open", `document.querySelector('#who') && !document.querySelector('#who').hidden`)
		}
		time.Sleep(time.Second)
		at := time.Now().Add(time.Second).UTC()
		_, err := aliceAPI.CreateTask(t.Context(), client.NewTask{Title: "Stretch your legs", ReminderAt: &at})
		e.ok("create a reminder", err)
		for i, p := range []*browsertest.Tab{tab, second} {
			waitJS(t, p, 30*time.Second, fmt.Sprintf("page %d shows the reminder live", i+1),
				fmt.Sprintf(`Number(document.querySelector('#unread').textContent) === %d && document.querySelector('#toasts').innerText.includes("Stretch your legs")`, unreadBefore+1))
			n := p.Notifications(t)
			if len(n) != 1 || n[0].Title != "Stretch your legs" || n[0].Tag == "" {
				t.Errorf("page %d: browser notifications %+v, want the reminder once", i+1, n)
			}
		}
		time.Sleep(3 * time.Second) // any leak to bob would have arrived by now
		if n := bobTab.Notifications(t); len(n) != 0 {
			t.Errorf("bob got alice's notifications: %+v", n)
		}
		var bobUnread, bobToasts string
		bobTab.Run(t, chromedp.Text(`#unread`, &bobUnread, chromedp.ByQuery))
		bobTab.Eval(t, `document.querySelector('#toasts').innerText`, &bobToasts)
		if bobUnread != "0" || strings.Contains(bobToasts, "Stretch") {
			t.Errorf("bob's page shows unread %q, toasts %q", bobUnread, bobToasts)
		}
		// The bell lists it; mark read empties the count.
		tab.Run(t, chromedp.Click(`#bell`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=mark-read]`, chromedp.ByQuery))
		tab.AssertNoSeriousAxe(t, "notifications")
		shoot(t, tab, "notifications")
		tab.Run(t, chromedp.Click(`#mark-all`, chromedp.ByQuery))
		waitJS(t, tab, 10*time.Second, "mark all read empties the count", `document.querySelector('#unread').textContent === "0"`)
		tab.Run(t, chromedp.Click(`#close-notifications`, chromedp.ByQuery))
		for _, p := range []*browsertest.Tab{tab, second, bobTab} {
			if errs := p.Errors(); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
		}
	})

	t.Run("a cross-site form post is refused", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/api/tasks" enctype="text/plain">
<input name='{"title":"forged by another site","x":"' value='"}'></form><script>document.forms[0].submit()</script>`, base)
		}))
		defer evil.Close()
		tab.Run(t, chromedp.Navigate(evil.URL))
		waitJS(t, tab, 10*time.Second, "the post was answered", `document.body.innerText.includes("cross_origin")`)
		page, err := aliceAPI.ListTasks(t.Context(), client.ListQuery{Q: "forged"})
		e.ok("list", err)
		if len(page.Tasks) != 0 {
			t.Errorf("a cross-site post created %v", page.Tasks)
		}
		tab.Run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))
	})

	t.Run("keyboard only", func(t *testing.T) {
		var focused string
		tab.Eval(t, `document.activeElement.id`, &focused)
		if focused != "quick-title" {
			t.Fatalf("focus after load is on %q, want the quick add", focused)
		}
		// Quick add: type and Enter.
		tab.Run(t, chromedp.KeyEvent("Typed by keyboard"), chromedp.KeyEvent(kb.Enter))
		waitJS(t, tab, 10*time.Second, "the typed task is listed", fmt.Sprintf(listed, "Typed by keyboard"))
		// The full form: Tab to "More options", Enter, type, Enter saves.
		tab.Run(t, chromedp.Focus(`#quick-title`, chromedp.ByQuery), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
		tab.Eval(t, `document.activeElement.id`, &focused)
		if focused != "open-form" {
			t.Fatalf("two Tabs from the quick add reach %q, want More options", focused)
		}
		tab.Run(t, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`#t-title`, chromedp.ByQuery),
			chromedp.KeyEvent("Form by keyboard"), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent("described"), chromedp.KeyEvent(kb.Tab),
			chromedp.KeyEvent(kb.ArrowDown)) // priority: none -> low
		tab.Eval(t, `document.activeElement.id`, &focused)
		if focused != "t-priority" {
			t.Errorf("Tab order in the form reached %q, want t-priority", focused)
		}
		tab.Run(t, chromedp.Focus(`#t-title`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter))
		waitJS(t, tab, 10*time.Second, "the form's task is listed", fmt.Sprintf(listed, "Form by keyboard"))
		// Escape closes a dialog; focus is visible (an outline) on a button.
		tab.Run(t, chromedp.Focus(`#open-form`, chromedp.ByQuery), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(`#t-title`, chromedp.ByQuery),
			chromedp.KeyEvent(kb.Escape))
		var open bool
		tab.Eval(t, `document.querySelector('#task-dialog').open`, &open)
		if open {
			t.Errorf("Escape did not close the form")
		}
		var outline string
		tab.Run(t, chromedp.Focus(`#load-more, #open-form`, chromedp.ByQuery), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
		tab.Eval(t, `getComputedStyle(document.activeElement).outlineStyle`, &outline)
		if outline == "none" || outline == "" {
			t.Errorf("the focused control has no visible outline (%q)", outline)
		}
	})

	t.Run("page weight", func(t *testing.T) {
		tab.Run(t, network.SetCacheDisabled(true), chromedp.Reload(), chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))
		var bytes float64
		tab.Eval(t, `(() => { const n = performance.getEntriesByType("navigation")[0]; return [n, ...performance.getEntriesByType("resource")].filter(e => !e.name.includes("/api/") && !e.name.includes("/session") && !e.name.includes("/stream")).reduce((s, e) => s + e.encodedBodySize, 0); })()`, &bytes)
		t.Logf("first load: %.1f KB compressed (page, style, scripts)", bytes/1000)
		if bytes <= 0 || bytes > 100_000 {
			t.Errorf("first load %.0f bytes compressed, want under 100 KB", bytes)
		}
	})
}

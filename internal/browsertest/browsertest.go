// Package browsertest drives Debian's Chromium, headless, for the browser
// tests: browser contexts (separate cookie jars: separate people), tabs,
// screenshots at desktop and phone width, a record of the page's browser
// notifications, and axe-core's accessibility check (vendored in axe/,
// refreshed by scripts/refresh-axe.sh).
package browsertest

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

//go:embed axe/axe.min.js
var axeJS string

// Chromium is the browser binary: $CHROMIUM, /usr/bin/chromium, or
// chromium on PATH.
func Chromium() (string, bool) {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p, true
			}
		}
	}
	p, err := exec.LookPath("chromium")
	return p, err == nil
}

// Browser is one headless Chromium with a fresh profile.
type Browser struct {
	ctx context.Context
}

// newBrowser starts Chromium for t, stopped when t ends. Without Chromium
// the test is skipped, but fails in CI (CI set), where .ci/run installs it.
func newBrowser(t testing.TB) *Browser {
	t.Helper()
	path, ok := Chromium()
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (apt-get install chromium); CI needs it for the browser tests")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	profile, err := os.MkdirTemp("", "browsertest-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Tabs in the background (a second tab of one person) must go on
		// loading and running their timers.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	if err := chromedp.Run(bctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cancelAlloc(); _ = os.RemoveAll(profile) })
	return &Browser{ctx: bctx}
}

// Person is someone at their own browser: its own profile, cookies,
// storage and permissions (a Chromium of its own: headless Chromium
// refuses tabs in extra browser contexts).
type Person struct {
	first *Tab
}

// NewPerson starts a Chromium with one tab.
func NewPerson(t testing.TB) *Person {
	t.Helper()
	b := newBrowser(t)
	return &Person{first: newTab(t, b.ctx)}
}

// Tab is the person's first tab.
func (p *Person) Tab() *Tab { return p.first }

// NewTab opens another page of the same person: the same cookies (so the
// same session), in a Chromium of its own, because headless Chromium
// stalls a second tab's navigation under chromedp. Cookies set later in
// one are not seen by the other.
func (p *Person) NewTab(t testing.TB) *Tab {
	t.Helper()
	var cookies []*network.Cookie
	p.first.Run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = storage.GetCookies().Do(ctx)
		return err
	}))
	tab := newTab(t, newBrowser(t).ctx)
	var params []*network.CookieParam
	for _, c := range cookies {
		params = append(params, &network.CookieParam{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path,
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite})
	}
	if len(params) > 0 {
		tab.Run(t, storage.SetCookies(params))
	}
	return tab
}

// GrantNotifications lets origin show browser notifications to p's first
// page (and its browser).
func (p *Person) GrantNotifications(t testing.TB, origin string) {
	p.first.GrantNotifications(t, origin)
}

// GrantNotifications lets origin show browser notifications in tab's browser.
func (tab *Tab) GrantNotifications(t testing.TB, origin string) {
	t.Helper()
	c := chromedp.FromContext(tab.ctx)
	tab.Run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		return browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeNotifications}).
			WithOrigin(origin).WithBrowserContextID(c.BrowserContextID).Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
	}))
}

// Tab is one page.
type Tab struct {
	ctx    context.Context
	errors []string
}

// notificationRecorder wraps window.Notification so that the test can see
// every notification the page shows; the real constructor still runs.
const notificationRecorder = `(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notifications = [];
  const Rec = function (title, opts) {
    window.__notifications.push({title: String(title), body: String((opts && opts.body) || ""), tag: String((opts && opts.tag) || "")});
    return new Real(title, opts);
  };
  Object.defineProperty(Rec, "permission", {get: () => Real.permission});
  Rec.requestPermission = (...a) => Real.requestPermission(...a);
  Rec.prototype = Real.prototype;
  window.Notification = Rec;
})();`

func newTab(t testing.TB, ctx context.Context) *Tab {
	tab := &Tab{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			tab.errors = append(tab.errors, e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, strings.Trim(string(a.Value), `"`))
				}
				tab.errors = append(tab.errors, strings.Join(parts, " "))
			}
		}
	})
	tab.Run(t, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(notificationRecorder).Do(ctx)
		return err
	}))
	return tab
}

// Run runs actions, failing t after 30 s or on an error.
func (tab *Tab) Run(t testing.TB, actions ...chromedp.Action) {
	t.Helper()
	if err := tab.TryRun(30*time.Second, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// TryRun runs actions within d and returns the error.
func (tab *Tab) TryRun(d time.Duration, actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(tab.ctx, d)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// Eval evaluates js (awaiting a promise) into out.
func (tab *Tab) Eval(t testing.TB, js string, out any) {
	t.Helper()
	tab.Run(t, chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
}

// Errors are the page's uncaught exceptions and console errors so far.
func (tab *Tab) Errors() []string { return tab.errors }

// Notification is one browser notification the page showed.
type Notification struct{ Title, Body, Tag string }

// Notifications are the browser notifications the page has shown.
func (tab *Tab) Notifications(t testing.TB) []Notification {
	t.Helper()
	var out []Notification
	tab.Eval(t, `window.__notifications || []`, &out)
	return out
}

// Screenshot writes a full-page PNG of the page at width x height (CSS
// pixels) to $BROWSERTEST_SCREENSHOTS (a temporary folder when unset) and
// returns its path.
func (tab *Tab) Screenshot(t testing.TB, name string, width, height int64) string {
	t.Helper()
	dir := os.Getenv("BROWSERTEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	tab.Run(t,
		emulation.SetDeviceMetricsOverride(width, height, 1, false),
		chromedp.Sleep(200*time.Millisecond), // layout
		chromedp.FullScreenshot(&buf, 100),
		emulation.ClearDeviceMetricsOverride(),
	)
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Violation is one accessibility rule axe-core found broken.
type Violation struct {
	ID, Impact, Help string
	Targets          []string
}

// Axe runs axe-core's default rules on the page and returns the violations.
func (tab *Tab) Axe(t testing.TB) []Violation {
	t.Helper()
	var out []Violation
	tab.Eval(t, `(() => { if (!window.axe) { `+axeJS+`
 } return window.axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
  ID: v.id, Impact: v.impact || "", Help: v.help, Targets: v.nodes.map(n => n.target.join(" ")) }))); })()`, &out)
	return out
}

// AssertNoSeriousAxe fails t for every serious or critical violation.
func (tab *Tab) AssertNoSeriousAxe(t testing.TB, page string) {
	t.Helper()
	for _, v := range tab.Axe(t) {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("axe, %s: %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
		}
	}
}

// String is for messages.
func (v Violation) String() string { return fmt.Sprintf("%s (%s)", v.ID, v.Impact) }

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/browsertest"
	"github.com/evolution-todo/todo/internal/devstack"
)

// The identity provider of the sign-in test is zitadel/oidc's example
// OpenID Provider (github.com/zitadel/oidc/v3/example/server, a certified
// OIDC library), pinned in the tools module and built from source: a
// separate process with its own login form, users and clients. It
// registers the client "web" (secret "secret", code flow, PKCE checked when
// the request carries a challenge) for the redirect URLs in REDIRECT_URI,
// and its issuer is http://localhost:<PORT>/.
const (
	oidcClientID     = "web"
	oidcClientSecret = "secret"
)

// oidcUser is the provider's one user (its USERS_FILE).
var oidcUser = struct{ ID, Username, Password, FirstName, LastName string }{
	ID: "carol-7f3a", Username: "carol", Password: "correct horse battery", FirstName: "Carol", LastName: "Oidc",
}

var (
	oidcBuild    sync.Once
	oidcBin      string
	oidcBuildErr error
)

// buildOIDCProvider builds the provider from the tools module, once.
func buildOIDCProvider(t *testing.T) string {
	t.Helper()
	oidcBuild.Do(func() {
		oidcBin = filepath.Join(binDir, "oidc-provider")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", oidcBin, "github.com/zitadel/oidc/v3/example/server")
		cmd.Dir = filepath.Join(repoRoot, "tools")
		if out, err := cmd.CombinedOutput(); err != nil {
			oidcBuildErr = fmt.Errorf("build the OIDC provider: %w\n%s", err, out)
		}
	})
	if oidcBuildErr != nil {
		t.Fatal(oidcBuildErr)
	}
	return oidcBin
}

// startOIDCProvider runs the provider on port, for redirectURL, and waits
// until it serves its discovery document. It returns the issuer.
func startOIDCProvider(t *testing.T, port int, redirectURL string) string {
	t.Helper()
	bin := buildOIDCProvider(t)
	users, err := json.Marshal(map[string]any{oidcUser.ID: map[string]any{
		"ID": oidcUser.ID, "Username": oidcUser.Username, "Password": oidcUser.Password,
		"FirstName": oidcUser.FirstName, "LastName": oidcUser.LastName,
		"Email": "carol@example.test", "EmailVerified": true, "PreferredLanguage": "en",
	}})
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(usersFile, users, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	p, err := devstack.Start("oidc-provider", logs, append(os.Environ(),
		"PORT="+strconv.Itoa(port), "REDIRECT_URI="+redirectURL, "USERS_FILE="+usersFile), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("oidc-provider output:\n%s", tail(logs.String(), 100))
		}
	})
	issuer := fmt.Sprintf("http://localhost:%d/", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(issuer + ".well-known/openid-configuration")
		if err == nil {
			var doc struct {
				Issuer string `json:"issuer"`
			}
			err = json.NewDecoder(resp.Body).Decode(&doc)
			_ = resp.Body.Close()
			if err == nil && doc.Issuer == issuer {
				return issuer
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the OIDC provider did not serve its discovery document at %s: %v", issuer, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A person signs in through a real OpenID Provider (authorization code
// flow with PKCE), with the dev sign-in off: the page offers the provider
// only, the provider's own login form takes the password, and the session
// belongs to the provider's user id (sub). What the page creates is that
// user's in the API, the dev sign-in is refused, and sign-out ends the
// session.
func TestWebAppSignInThroughOIDC(t *testing.T) {
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	issuer := fmt.Sprintf("http://localhost:%d/", port)
	e := startSystemWith(t, func(c *devstack.Config) {
		c.DevSignIn = false
		c.AppEnvFor["web-app"] = append(c.AppEnvFor["web-app"],
			"OIDC_ISSUER="+issuer, "OIDC_CLIENT_ID="+oidcClientID, "OIDC_CLIENT_SECRET="+oidcClientSecret,
			"OIDC_PROVIDER_NAME=Example SSO")
	}, "todo-api", "web-app")
	base := e.sys.Instances["web-app"].URL()
	startOIDCProvider(t, port, base+"/auth/callback")

	// The dev sign-in is off: refused by the server, absent from the page.
	resp, err := http.Post(base+"/auth/dev", "application/json", strings.NewReader(`{"user":"mallory"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("POST /auth/dev with the dev sign-in off: %d, want a 4xx", resp.StatusCode)
	}

	// The sign-in asks for the code flow with PKCE (S256), a state and a
	// nonce; the provider then checks the verifier at the token exchange,
	// which the browser's sign-in below goes through.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(base + "/auth/login")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	authURL, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(authURL.String(), issuer) {
		t.Fatalf("GET /auth/login: %d to %q (%v), want a redirect to the provider", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	q := authURL.Query()
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("client_id") != oidcClientID {
		t.Fatalf("the authorization request %s is not the code flow with PKCE S256, state and nonce", authURL)
	}
	// The attempt is kept in the browser alone: a sealed, short-lived
	// cookie sent to the callback only, and nothing written on the server,
	// however many attempts anyone's page makes (an image tag is enough).
	var login *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "todo_login" {
			login = c
		}
	}
	if login == nil || login.Path != "/auth/callback" || !login.HttpOnly || login.MaxAge <= 0 || login.MaxAge > 600 ||
		strings.Contains(login.Value, q.Get("state")) {
		t.Fatalf("the sign-in attempt's cookie %+v: want todo_login, sealed, HttpOnly, Path=/auth/callback, at most 10 minutes", login)
	}
	rows := stateRows(t, e.dbURL)
	for range 50 {
		if resp, err := noRedirect.Get(base + "/auth/login"); err == nil {
			_ = resp.Body.Close()
		}
	}
	// A callback with a state of its own, or another browser's cookie.
	for _, cookie := range []string{"", login.Value} {
		req, _ := http.NewRequest(http.MethodGet, base+"/auth/callback?code=x&state="+strings.Repeat("A", 43), nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "todo_login", Value: cookie})
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/?signin_error=expired" {
			t.Errorf("a callback of no attempt of this browser: %d to %q, want /?signin_error=expired", resp.StatusCode, loc)
		}
	}
	if after := stateRows(t, e.dbURL); after != rows {
		t.Errorf("51 sign-in attempts and 2 forged callbacks wrote %d rows", after-rows)
	}

	person := browsertest.NewPerson(t)
	tab := person.Tab()
	tab.Run(t, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`[data-testid=oidc-login]`, chromedp.ByQuery))
	var offer struct {
		Button string `json:"button"`
		Dev    bool   `json:"dev"`
	}
	tab.Eval(t, `({button: document.querySelector('[data-testid=oidc-login]').textContent,
  dev: !document.querySelector('#dev-form').hidden})`, &offer)
	if offer.Button != "Sign in with Example SSO" || offer.Dev {
		t.Fatalf("sign-in offers %+v, want the provider's button only", offer)
	}

	// To the provider's login form and back.
	tab.Run(t, chromedp.Click(`[data-testid=oidc-login]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#username`, chromedp.ByQuery))
	var at string
	tab.Eval(t, `location.href`, &at)
	if !strings.HasPrefix(at, issuer) {
		t.Fatalf("the sign-in went to %s, not the provider %s", at, issuer)
	}
	// A wrong password stays at the provider. The form posts and the
	// provider answers with a new page: wait for that page, not for the
	// form still on screen before it arrives (typing into a page that is
	// being replaced loses the keys, or the page).
	var marked bool
	tab.Eval(t, `window.__beforeSubmit = true`, &marked)
	tab.Run(t, chromedp.SendKeys(`#username`, oidcUser.Username, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "wrong", chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery))
	waitNewPage(t, tab, 10*time.Second, `!!document.querySelector('#username')`)
	tab.Eval(t, `location.href`, &at)
	if !strings.HasPrefix(at, issuer) {
		t.Fatalf("a wrong password led to %s", at)
	}
	tab.Run(t, chromedp.SetValue(`#username`, oidcUser.Username, chromedp.ByQuery),
		chromedp.SetValue(`#password`, oidcUser.Password, chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#quick-title`, chromedp.ByQuery))
	tab.Eval(t, `location.href`, &at)
	if at != base+"/" {
		t.Fatalf("after the sign-in the page is %s, want %s/", at, base)
	}

	// The session is the provider's user: its name on the page, its sub in the API.
	var session struct {
		SignedIn bool   `json:"signed_in"`
		User     string `json:"user"`
		Name     string `json:"name"`
	}
	tab.Eval(t, `fetch("/session").then(r => r.json())`, &session)
	if !session.SignedIn || session.User != oidcUser.ID || !strings.Contains(session.Name, oidcUser.FirstName) {
		t.Fatalf("session %+v, want user %s named %s", session, oidcUser.ID, oidcUser.FirstName)
	}
	tab.Run(t, chromedp.SendKeys(`#quick-title`, "signed in through OIDC\n", chromedp.ByQuery))
	waitJS(t, tab, 10*time.Second, "the new task is listed", fmt.Sprintf(listed, "signed in through OIDC"))
	tok, err := auth.Mint(auth.Config{Secret: []byte(jwtSecret)}, oidcUser.ID, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	carol := client.New(e.sys.APIURL(), tok, client.WithTransport(openAPI.Transport(nil)))
	page, err := carol.ListTasks(context.Background(), client.ListQuery{Status: client.StatusAll})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tasks) != 1 || page.Tasks[0].Title != "signed in through OIDC" {
		t.Fatalf("the provider's user %s has %+v in the API", oidcUser.ID, page.Tasks)
	}
	if others, err := e.as("carol").client.ListTasks(context.Background(), client.ListQuery{Status: client.StatusAll}); err != nil || len(others.Tasks) != 0 {
		t.Fatalf("user \"carol\" (the login name, not the sub) sees %+v, %v", others, err)
	}

	// Sign-out ends the session: the page asks to sign in again and the
	// API proxy refuses the old cookie.
	tab.Run(t, chromedp.Click(`[data-testid=signout]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=oidc-login]`, chromedp.ByQuery))
	var status int
	tab.Eval(t, `fetch("/api/tasks").then(r => r.status)`, &status)
	if status != http.StatusUnauthorized {
		t.Fatalf("GET /api/tasks after sign-out: %d, want 401", status)
	}

	// The sign-in page shows its own text for a failure's code, never
	// text from the URL, which anyone can write.
	for code, want := range map[string]string{
		"expired": "This sign-in expired or was started in another browser; sign in again.",
		"Your+account+is+locked.+Call+%2B1-555-0100+now": "The sign-in failed; try again.",
		"constructor": "The sign-in failed; try again.",
		"__proto__":   "The sign-in failed; try again.",
	} {
		tab.Run(t, chromedp.Navigate(base+"/?signin_error="+code), chromedp.WaitVisible(`[data-testid=signin-error]`, chromedp.ByQuery))
		var shown string
		tab.Eval(t, `document.querySelector('[data-testid=signin-error]').textContent`, &shown)
		if shown != want {
			t.Errorf("?signin_error=%s shows %q, want %q", code, shown, want)
		}
	}
}

// waitNewPage waits until the page that replaced the one marked with
// window.__beforeSubmit has loaded and js is true on it. Evaluations fail
// while the page is being replaced; they are retried.
func waitNewPage(t *testing.T, tab *browsertest.Tab, timeout time.Duration, js string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		err := tab.TryRun(2*time.Second, chromedp.Evaluate(
			`window.__beforeSubmit === undefined && document.readyState === "complete" && (`+js+`)`, &ok))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new page where %s within %s (last error: %v)", js, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

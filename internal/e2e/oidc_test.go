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
	// A wrong password stays at the provider.
	tab.Run(t, chromedp.SendKeys(`#username`, oidcUser.Username, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "wrong", chromedp.ByQuery),
		chromedp.Click(`button[type=submit]`, chromedp.ByQuery), chromedp.WaitVisible(`#username`, chromedp.ByQuery))
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
}

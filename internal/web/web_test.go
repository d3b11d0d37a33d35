package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/contract/webapi"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer/consumertest"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/telemetry"
)

const (
	testCookieKey = "0123456789abcdef0123456789abcdef"
	testTokenKey  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // 32 bytes, base64
	testAppToken  = "app-token"
)

// testEnv is the least environment web-app starts with in these tests.
func testEnv() map[string]string {
	return map[string]string{"DEV_SIGNIN": "true", "APP_API_TOKEN": testAppToken,
		"COOKIE_KEYS": testCookieKey, "API_TOKEN_KEYS": testTokenKey}
}

// memState is an in-memory Dapr state store with ETags.
type memState struct {
	mu     sync.Mutex
	items  map[string][]byte
	etags  map[string]int
	fail   bool
	reads  int // GetState calls
	writes int // Transact calls
}

func newMemState() *memState { return &memState{items: map[string][]byte{}, etags: map[string]int{}} }

func (m *memState) GetState(_ context.Context, _, key string) ([]byte, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.fail {
		return nil, "", false, fmt.Errorf("state store down")
	}
	v, ok := m.items[key]
	return v, strconv.Itoa(m.etags[key]), ok, nil
}

func (m *memState) Transact(_ context.Context, _ string, ops []dapr.StateOp) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.fail {
		return fmt.Errorf("state store down")
	}
	for _, op := range ops {
		if op.ETag != "" && op.ETag != strconv.Itoa(m.etags[op.Key]) {
			return dapr.ErrStateConflict
		}
	}
	for _, op := range ops {
		if op.Delete {
			delete(m.items, op.Key)
			continue
		}
		b, err := json.Marshal(op.Value)
		if err != nil {
			return err
		}
		m.items[op.Key] = b
		m.etags[op.Key]++
	}
	return nil
}

func (m *memState) setFail(fail bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = fail
}

// counts are the store's reads and writes so far.
func (m *memState) counts() (reads, writes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads, m.writes
}

func (m *memState) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// upstream is a stand-in for todo-api that records what reaches it.
type upstream struct {
	mu   sync.Mutex
	reqs []*http.Request
	srv  *httptest.Server
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "upstream", Value: "x"})
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"path": r.URL.EscapedPath(), "query": r.URL.RawQuery})
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.reqs...)
}

type fixture struct {
	srv   *httptest.Server // the public port
	side  *httptest.Server // the app port (the sidecar's)
	app   *App
	state *memState
	api   *upstream
	stop  context.CancelFunc
}

func newFixture(t *testing.T, edit func(*Config)) *fixture {
	t.Helper()
	cfg, err := LoadConfig(testEnv())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{state: newMemState(), api: newUpstream(t)}
	cfg.APIURL = f.api.srv.URL
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	f.app, err = newApp(ctx, cfg, slog.New(slog.DiscardHandler), f.state, telemetry.NewMetrics(AppID), http.DefaultTransport)
	if err != nil {
		t.Fatal(err)
	}
	h := f.app.Handlers()
	f.srv, f.side = httptest.NewServer(httpx.NoSniff(h.Public)), httptest.NewServer(h.App)
	t.Cleanup(func() { cancel(); f.srv.Close(); f.side.Close() })
	return f
}

// browser is an HTTP client with its own cookies, sending the headers a
// browser sends on a same-origin fetch.
type browser struct {
	t      *testing.T
	f      *fixture
	client *http.Client
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, f: f, client: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// answer is what do got back (its body already read and closed).
type answer struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (a answer) Cookies() []*http.Cookie { return a.cookies }

func (b *browser) do(method, path, body string, header ...string) (answer, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{StatusCode: resp.StatusCode, Header: resp.Header, cookies: resp.Cookies()}, raw
}

func (b *browser) signIn(user string) {
	b.t.Helper()
	resp, raw := b.do("POST", "/auth/dev", `{"user":`+strconv.Quote(user)+`}`)
	if resp.StatusCode != http.StatusNoContent {
		b.t.Fatalf("dev sign-in of %q: %d %s", user, resp.StatusCode, raw)
	}
}

func isRedirect(code int) bool {
	return code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect
}

func errorBody(t *testing.T, raw []byte) httpx.ErrorDetail {
	t.Helper()
	var e httpx.ErrorBody
	if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not a JSON error body: %q", raw)
	}
	return e.Error
}

func TestSessionCookieIsProtected(t *testing.T) {
	for _, tc := range []struct {
		publicURL, name string
		secure          bool
	}{
		{"http://127.0.0.1:8085", "todo_session", false},
		{"https://todo.example.com", "__Host-todo_session", true},
	} {
		t.Run(tc.publicURL, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				c.PublicURL = tc.publicURL
				if tc.secure { // no dev sign-in on https: a session as the OIDC callback makes it
					c.DevSignIn, c.OIDC = false, OIDCConfig{Issuer: "https://id.example.com", ClientID: "web"}
				}
			})
			rec := httptest.NewRecorder()
			if _, err := f.app.sessions.create(context.Background(), rec, Session{User: "alice", Name: "alice", Method: "oidc"}); err != nil {
				t.Fatal(err)
			}
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies %v", cookies)
			}
			c := cookies[0]
			if c.Name != tc.name || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" || c.MaxAge <= 0 {
				t.Errorf("cookie %+v: want %s, HttpOnly, SameSite=Lax, Secure=%v, Path=/", c, tc.name, tc.secure)
			}
			id, mac, _ := strings.Cut(c.Value, ".")
			if len(id) != idLen || len(mac) != 43 {
				t.Errorf("session cookie %q is not 32 random bytes and a MAC", c.Value)
			}
			// Only the id's hash is stored.
			f.state.mu.Lock()
			for k, v := range f.state.items {
				if strings.Contains(k, id) || bytes.Contains(v, []byte(id)) {
					t.Errorf("the session id is stored in the clear under %s", k)
				}
			}
			f.state.mu.Unlock()
		})
	}
}

func TestSessionRoundTripAndSignOut(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	_, raw := b.do("GET", "/session", "")
	var info sessionInfo
	_ = json.Unmarshal(raw, &info)
	if info.SignedIn || !info.DevSignIn || info.OIDC {
		t.Fatalf("before sign-in: %s", raw)
	}
	b.signIn("alice")
	_, raw = b.do("GET", "/session", "")
	info = sessionInfo{}
	_ = json.Unmarshal(raw, &info)
	if !info.SignedIn || info.User != "alice" {
		t.Fatalf("after sign-in: %s", raw)
	}
	if resp, raw := b.do("POST", "/auth/logout", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out: %d %s", resp.StatusCode, raw)
	}
	if f.state.len() != 0 {
		t.Errorf("the session is still stored after sign-out")
	}
	_, raw = b.do("GET", "/session", "")
	info = sessionInfo{}
	_ = json.Unmarshal(raw, &info)
	if info.SignedIn {
		t.Errorf("still signed in after sign-out: %s", raw)
	}
	if resp, _ := b.do("GET", "/api/tasks", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API after sign-out: %d, want 401", resp.StatusCode)
	}
}

func TestAStolenCookieDiesWithSignOut(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	u, _ := url.Parse(f.srv.URL)
	stolen := b.client.Jar.Cookies(u)
	b.do("POST", "/auth/logout", "")
	thief := f.browser(t)
	thief.client.Jar.SetCookies(u, stolen)
	if resp, _ := thief.do("GET", "/api/tasks", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a copied cookie after sign-out: %d, want 401", resp.StatusCode)
	}
}

func TestDevSignInRefusesBadNames(t *testing.T) {
	f := newFixture(t, nil)
	for _, body := range []string{
		`{"user":""}`, `{"user":"   "}`, `{"user":"a b"}`, `{"user":"x\u0000y"}`, "{\"user\":\"\xff\xfe\"}",
		`{"user":"` + strings.Repeat("a", 65) + `"}`, `{"user":"../bob"}`, `{"user":"-x"}`, `{"user":"a/b"}`, `{"user":"a%2Fb"}`,
	} {
		resp, raw := f.browser(t).do("POST", "/auth/dev", body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", body, resp.StatusCode)
			continue
		}
		if e := errorBody(t, raw); e.Field != "user" {
			t.Errorf("%q: error %+v, want field user", body, e)
		}
	}
	for _, body := range []string{`not json`, `{"user":`, `[]`} {
		resp, raw := f.browser(t).do("POST", "/auth/dev", body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", body, resp.StatusCode)
		}
		errorBody(t, raw)
	}
	if f.state.len() != 0 {
		t.Errorf("a refused sign-in stored a session")
	}
}

func TestDevSignInIsOffUnlessEnabled(t *testing.T) {
	env := testEnv()
	delete(env, "DEV_SIGNIN")
	if _, err := LoadConfig(env); err == nil || !strings.Contains(err.Error(), "OIDC_ISSUER") {
		t.Fatalf("no way to sign in was accepted: %v", err)
	}
	f := newFixture(t, func(c *Config) {
		c.DevSignIn = false
		c.OIDC = OIDCConfig{Issuer: "http://127.0.0.1:1", ClientID: "web"}
	})
	resp, raw := f.browser(t).do("POST", "/auth/dev", `{"user":"alice"}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dev sign-in while off: %d %s, want 404", resp.StatusCode, raw)
	}
	errorBody(t, raw)
}

func TestConfigRefusesUnsafeSettings(t *testing.T) {
	oidc := map[string]string{"OIDC_ISSUER": "https://id.example.com", "OIDC_CLIENT_ID": "web"}
	for _, tt := range []struct {
		name string
		env  map[string]string // over testEnv()
		want string
	}{
		{"no cookie keys", map[string]string{"COOKIE_KEYS": ""}, "COOKIE_KEYS: required"},
		{"a short cookie key", map[string]string{"COOKIE_KEYS": testCookieKey + ",short"}, "COOKIE_KEYS: key 2: must be at least 32 bytes"},
		{"no token key", map[string]string{"API_TOKEN_KEYS": ""}, "API_TOKEN_KEYS: required"},
		{"a token key that is no seed", map[string]string{"API_TOKEN_KEYS": "c2hvcnQ="}, "API_TOKEN_KEYS: key 1"},
		{"long API tokens", map[string]string{"API_TOKEN_TTL": "1h"}, "API_TOKEN_TTL=1h0m0s: must be at most 15m0s"},
		{"a long stream grace", map[string]string{"STREAM_SESSION_GRACE": "10m"}, "STREAM_SESSION_GRACE=10m0s: must be at most 2m0s"},
		{"a proxy that is no address", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,ingress"}, `TRUSTED_PROXIES="10.0.0.0/8,ingress"`},
		{"http outside loopback", map[string]string{"DEV_SIGNIN": "false", "PUBLIC_URL": "http://todo.example.com"}, "must be https outside a loopback address"},
		{"a name that starts like a loopback address", map[string]string{"DEV_SIGNIN": "false", "PUBLIC_URL": "http://127.todo.example.com"}, "must be https outside a loopback address"},
		{"a path", map[string]string{"PUBLIC_URL": "https://todo.example.com/app"}, "must be scheme://host[:port] alone"},
		{"a user", map[string]string{"PUBLIC_URL": "https://me@todo.example.com"}, "must be scheme://host[:port] alone"},
		{"issuer, no client", map[string]string{"DEV_SIGNIN": "false", "OIDC_ISSUER": "https://id.example.com"}, "OIDC_CLIENT_ID: required"},
		// The dev sign-in (a user name alone) never meets production.
		{"dev sign-in on https", map[string]string{"PUBLIC_URL": "https://todo.example.com"}, "DEV_SIGNIN=true: refused with PUBLIC_URL"},
		{"dev sign-in on an uppercase https", map[string]string{"PUBLIC_URL": "HTTPS://todo.example.com"}, "DEV_SIGNIN=true: refused with PUBLIC_URL"},
		{"dev sign-in on a private address", map[string]string{"PUBLIC_URL": "http://192.168.1.10:8085"}, "DEV_SIGNIN=true: refused with PUBLIC_URL"},
		{"dev sign-in with an identity provider", oidc, "DEV_SIGNIN=true: refused with OIDC_ISSUER set"},
		{"dev sign-in, a provider and https", map[string]string{"PUBLIC_URL": "https://todo.example.com",
			"OIDC_ISSUER": "https://id.example.com", "OIDC_CLIENT_ID": "web"}, "DEV_SIGNIN=true: refused with OIDC_ISSUER set"},
	} {
		env := testEnv()
		for k, v := range tt.env {
			env[k] = v
		}
		if _, err := LoadConfig(env); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"dev sign-in on localhost", map[string]string{"PUBLIC_URL": "http://localhost:8085"}},
		{"dev sign-in on ::1", map[string]string{"PUBLIC_URL": "http://[::1]:8085"}},
		{"dev sign-in on 127.0.0.2", map[string]string{"PUBLIC_URL": "http://127.0.0.2"}},
		{"OIDC on https", map[string]string{"DEV_SIGNIN": "false", "PUBLIC_URL": "https://todo.example.com",
			"OIDC_ISSUER": "https://id.example.com", "OIDC_CLIENT_ID": "web"}},
	} {
		env := testEnv()
		for k, v := range tt.env {
			env[k] = v
		}
		if _, err := LoadConfig(env); err != nil {
			t.Errorf("%s: refused: %v", tt.name, err)
		}
	}
}

// The scheme decides the cookie's Secure flag however it is written.
func TestSecureFollowsTheParsedScheme(t *testing.T) {
	env := testEnv()
	env["DEV_SIGNIN"], env["OIDC_ISSUER"], env["OIDC_CLIENT_ID"], env["PUBLIC_URL"] = "false", "https://id.example.com", "web", "HTTPS://Todo.Example.com"
	cfg, err := LoadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := cfg.settings()
	if !set.secure() {
		t.Error("HTTPS:// is not taken as https")
	}
	if !set.hostAllowed("todo.example.com") || !set.hostAllowed("TODO.example.com:443") || set.hostAllowed("todo.example.com:8443") {
		t.Error("the host check does not follow the parsed URL")
	}
}

func TestHostCheck(t *testing.T) {
	for _, tt := range []struct {
		public string
		ok     []string
		refuse []string
	}{
		{"http://127.0.0.1:8085", []string{"127.0.0.1:8085", "localhost:8085", "[::1]:8085", "127.0.0.1", "LOCALHOST:1"},
			[]string{"evil.example:8085", "127.0.0.1.evil.example:8085", "192.168.1.2:8085", "", "127.todo.example.com:8085"}},
		{"https://todo.example.com", []string{"todo.example.com", "todo.example.com:443", "todo.example.com."},
			[]string{"localhost", "127.0.0.1", "evil.example", "todo.example.com:80", "todo.example.com.evil.example", "xtodo.example.com"}},
	} {
		env := testEnv()
		env["PUBLIC_URL"] = tt.public
		if strings.HasPrefix(tt.public, "https") {
			env["DEV_SIGNIN"], env["OIDC_ISSUER"], env["OIDC_CLIENT_ID"] = "false", "https://id.example.com", "web"
		}
		cfg, err := LoadConfig(env)
		if err != nil {
			t.Fatal(err)
		}
		set, _ := cfg.settings()
		for _, h := range tt.ok {
			if !set.hostAllowed(h) {
				t.Errorf("%s: Host %q refused", tt.public, h)
			}
		}
		for _, h := range tt.refuse {
			if set.hostAllowed(h) {
				t.Errorf("%s: Host %q allowed", tt.public, h)
			}
		}
	}
}

// A request for another host is refused before anything runs: no cookie,
// no store read or write, no call upstream.
func TestOtherHostsAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	for _, p := range [][2]string{{"GET", "/"}, {"POST", "/auth/dev"}, {"GET", "/session"}, {"GET", "/api/tasks"}, {"GET", "/stream"}} {
		resp, raw := b.do(p[0], p[1], `{"user":"alice"}`, "Host", "rebind.evil.example:8085")
		if resp.StatusCode != http.StatusMisdirectedRequest || len(resp.Cookies()) != 0 {
			t.Errorf("%s %s for another host: %d %v", p[0], p[1], resp.StatusCode, resp.Cookies())
		}
		if e := errorBody(t, raw); e.Code != "wrong_host" {
			t.Errorf("%s %s: code %q", p[0], p[1], e.Code)
		}
	}
	if f.state.len() != 0 || len(f.api.requests()) != 0 {
		t.Error("a request for another host reached the store or todo-api")
	}
}

func TestCrossSiteChangesAreRefused(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "", "Origin", "http://evil.example"},
	} {
		for _, path := range []string{"/api/tasks", "/auth/logout", "/auth/dev"} {
			resp, raw := b.do("POST", path, `{"title":"x","user":"mallory"}`, h...)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %v: %d, want 403", path, h, resp.StatusCode)
				continue
			}
			errorBody(t, raw)
		}
	}
	if n := len(f.api.requests()); n != 0 {
		t.Errorf("%d cross-site requests reached todo-api", n)
	}
	// Reads are not changes: a cross-site GET is answered (the cookie is
	// SameSite=Lax, and nothing changes).
	if resp, _ := b.do("GET", "/session", "", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusOK {
		t.Errorf("cross-site GET /session: %d", resp.StatusCode)
	}
}

func TestAPIProxyCarriesTheUsersTokenOnly(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	if resp, raw := b.do("GET", "/api/tasks", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("not signed in: %d %s", resp.StatusCode, raw)
	}
	if n := len(f.api.requests()); n != 0 {
		t.Fatalf("an unauthenticated request reached todo-api")
	}
	b.signIn("alice")
	resp, raw := b.do("GET", "/api/tasks?status=open&q=a%20b", "", "Authorization", "Bearer forged", "Cookie", "x=y",
		"Traceparent", testTraceparent, "Baggage", "user=mallory")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("todo-api's Set-Cookie reached the browser: %v", resp.Cookies())
	}
	reqs := f.api.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests upstream", len(reqs))
	}
	r := reqs[0]
	if r.URL.Path != "/api/tasks" || r.URL.RawQuery != "status=open&q=a%20b" {
		t.Errorf("upstream got %s?%s", r.URL.Path, r.URL.RawQuery)
	}
	if r.Header.Get("Cookie") != "" {
		t.Errorf("the browser's cookies went upstream: %q", r.Header.Get("Cookie"))
	}
	if r.Header.Get("Traceparent") == testTraceparent || r.Header.Get("Baggage") != "" {
		t.Errorf("the browser's trace headers went upstream: %q %q", r.Header.Get("Traceparent"), r.Header.Get("Baggage"))
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("no bearer token upstream")
	}
	// todo-api's verifier of web-app's tokens, with the app port's JWK Set.
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set(httpx.AppTokenHeader, testAppToken)
		f.side.Config.Handler.ServeHTTP(w, r)
	}))
	defer jwks.Close()
	v, err := auth.NewVerifier(auth.Config{JWKSURL: jwks.URL + "/" + webapi.PathJWKS, Issuer: webapi.DefaultIssuer,
		Audience: webapi.DefaultAudience, Algorithms: []string{"EdDSA"}, MaxTTL: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if sub, err := v.Verify(tok); err != nil || sub != "alice" {
		t.Errorf("upstream token: sub %q, %v; want alice", sub, err)
	}
}

// The routes of the repeat editor and of Skip reach todo-api as the page
// sends them: the method, the path and the query, escapes and all (an
// RRULE's ";", "=" and "," are escaped in a query).
func TestAPIProxyPassesTheRepeatRoutes(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	for _, c := range []struct{ method, path, query string }{
		{"POST", "/api/tasks/42/skip", ""},
		{"GET", "/api/recurrence/preview", "rrule=FREQ%3DWEEKLY%3BINTERVAL%3D2%3BBYDAY%3DMO%2CTH%3BUNTIL%3D20300331T215959Z" +
			"&start=2030-01-07T08%3A00%3A00Z&timezone=Europe%2FBerlin&count=5"},
		{"GET", "/api/recurrence/preview", "rrule=FREQ%3DMONTHLY%3BBYDAY%3D-1FR%3BCOUNT%3D3&start=2030-01-10T23%3A00%3A00Z&timezone=America%2FNew_York&count=1"},
		{"PATCH", "/api/tasks/42", ""},
	} {
		target := c.path
		if c.query != "" {
			target += "?" + c.query
		}
		body := ""
		if c.method == "PATCH" {
			body = `{"rrule":"FREQ=DAILY","reminders":[{"before":"PT15M"}]}`
		}
		before := len(f.api.requests())
		if resp, raw := b.do(c.method, target, body); resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d %s", c.method, target, resp.StatusCode, raw)
			continue
		}
		reqs := f.api.requests()
		if len(reqs) != before+1 {
			t.Errorf("%s %s: %d requests upstream", c.method, target, len(reqs)-before)
			continue
		}
		r := reqs[len(reqs)-1]
		if r.Method != c.method || r.URL.EscapedPath() != c.path || r.URL.RawQuery != c.query {
			t.Errorf("upstream got %s %s?%s, want %s %s?%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, c.method, c.path, c.query)
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("%s %s went upstream without the user's token", c.method, target)
		}
	}
}

const testTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

func TestAPIProxyRefusesPathsThatCouldBeRewritten(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	for _, p := range []string{
		"/api/tasks/..%2F..%2Fnotifications", "/api/%2e%2e/internal", "/api/tasks/%2F", "/api/tasks/1%00",
		"/api//tasks", "/api/tasks/./1", "/api/tasks/1/", "/api/tasks/%5c..%5cx",
	} {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/x", nil)
		req.URL.Opaque = p // sent as written, not cleaned by the client
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			// ServeMux answers unclean paths with a redirect to the
			// clean one, which is fine too: nothing went upstream.
			if !isRedirect(resp.StatusCode) {
				t.Errorf("%s: %d %s, want a 4xx", p, resp.StatusCode, raw)
			}
		}
	}
	if reqs := f.api.requests(); len(reqs) != 0 {
		for _, r := range reqs {
			t.Errorf("reached todo-api: %s", r.URL.EscapedPath())
		}
	}
}

func TestStateStoreDownIsA503NotA500(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	f.state.mu.Lock()
	f.state.fail = true
	f.state.mu.Unlock()
	for _, p := range []string{"/session", "/api/tasks", "/stream"} {
		resp, raw := b.do("GET", p, "")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the state store down: %d %s, want 503", p, resp.StatusCode, raw)
		}
	}
}

// sse reads Server-Sent Events from one open stream.
type sse struct {
	t      *testing.T
	resp   *http.Response
	events chan [2]string // event, data
	cancel context.CancelFunc
}

func (b *browser) stream() (*sse, int) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.f.srv.URL+"/stream", nil)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &sse{t: b.t, resp: resp, events: make(chan [2]string, 100), cancel: cancel}
	b.t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != "" || data != "" {
					s.events <- [2]string{ev, data}
				}
				ev, data = "", ""
			case strings.HasPrefix(line, ":"):
				s.events <- [2]string{"comment", line}
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s, http.StatusOK
}

// next returns the next event other than heartbeats, or fails after d.
func (s *sse) next(d time.Duration) (string, string) {
	s.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				return "closed", ""
			}
			if e[0] == "comment" {
				continue
			}
			return e[0], e[1]
		case <-timeout:
			s.t.Fatalf("no event within %s", d)
		}
	}
}

func deliver(t *testing.T, f *fixture, path string, body []byte) dapr.Status {
	t.Helper()
	return consumertest.Deliver(t, consumertest.Consumer{Handler: f.side.Config.Handler, AppToken: testAppToken, Path: path}, body)
}

func taskEvent(t *testing.T, id, user, title string) []byte {
	t.Helper()
	return taskEventAt(t, id, user, title, time.Now().UTC())
}

func taskEventAt(t *testing.T, id, user, title string, now time.Time) []byte {
	t.Helper()
	data := events.TaskEvent{EventType: events.TaskCreated, TaskID: 7, UserID: user, Title: title, Timestamp: now, Version: 1}
	ce, err := events.NewCloudEvent(id, "todo-api", events.CloudEventType(events.TaskCreated), 7, now, data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ce)
	return b
}

func reminderEvent(t *testing.T, id, user, title string) []byte {
	t.Helper()
	return reminderEventAt(t, id, user, title, time.Now().UTC())
}

func reminderEventAt(t *testing.T, id, user, title string, now time.Time) []byte {
	t.Helper()
	data := events.ReminderEvent{EventType: events.ReminderDue, TaskID: 9, UserID: user, Title: title, ReminderAt: now}
	ce, err := events.NewCloudEvent(id, "reminder-service", events.CloudEventType(events.ReminderDue), 9, now, data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ce)
	return b
}

func TestStreamCarriesOnlyTheUsersOwnEvents(t *testing.T) {
	f := newFixture(t, nil)
	alice, bob := f.browser(t), f.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	a1, _ := alice.stream()
	a2, _ := alice.stream() // a second tab
	bs, _ := bob.stream()
	for _, s := range []*sse{a1, a2, bs} {
		if ev, _ := s.next(5 * time.Second); ev != "hello" {
			t.Fatalf("first event %q, want hello", ev)
		}
	}
	if st := deliver(t, f, "/events/task-events", taskEvent(t, "e1", "alice", "alice's task")); st != dapr.Success {
		t.Fatalf("task event: %s", st)
	}
	if st := deliver(t, f, "/events/reminders", reminderEvent(t, "r1", "alice", "alice's reminder")); st != dapr.Success {
		t.Fatalf("reminder: %s", st)
	}
	deliver(t, f, "/events/task-events", taskEvent(t, "e2", "bob", "bob's task"))
	for _, s := range []*sse{a1, a2} {
		ev, data := s.next(5 * time.Second)
		if ev != "task" || !strings.Contains(data, `"title":"alice's task"`) {
			t.Errorf("alice got %s %s", ev, data)
		}
		ev, data = s.next(5 * time.Second)
		var r reminderPush
		_ = json.Unmarshal([]byte(data), &r)
		if ev != "reminder" || r.ID != "r1" || r.Title != "alice's reminder" || r.TaskID != 9 {
			t.Errorf("alice got %s %s, want the reminder with the notification id r1", ev, data)
		}
	}
	// Bob's first event is his own: nothing of alice's came before it.
	if ev, data := bs.next(5 * time.Second); ev != "task" || !strings.Contains(data, "bob's task") {
		t.Errorf("bob got %s %s", ev, data)
	}
}

// A new consumer group's replay (Redis Streams starts one at the oldest
// entry) is acknowledged and not pushed: an event from well before the
// replica started would pop an old reminder up again. Events from just
// before the start (a restart's own gap) still go out.
func TestStreamSkipsTheReplayOfOldEvents(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.browser(t)
	alice.signIn("alice")
	s, _ := alice.stream()
	if ev, _ := s.next(5 * time.Second); ev != "hello" {
		t.Fatalf("first event %q, want hello", ev)
	}
	old := time.Now().UTC().Add(-2 * staleAfter)
	if st := deliver(t, f, "/events/reminders", reminderEventAt(t, "old-r", "alice", "yesterday's reminder", old)); st != dapr.Success {
		t.Fatalf("old reminder: %s, want SUCCESS (acknowledged)", st)
	}
	if st := deliver(t, f, "/events/task-events", taskEventAt(t, "old-e", "alice", "old change", old)); st != dapr.Success {
		t.Fatalf("old task event: %s, want SUCCESS (acknowledged)", st)
	}
	recent := time.Now().UTC().Add(-staleAfter / 2)
	deliver(t, f, "/events/task-events", taskEventAt(t, "recent-e", "alice", "recent change", recent))
	if ev, data := s.next(5 * time.Second); ev != "task" || !strings.Contains(data, "recent change") {
		t.Errorf("first push %s %s, want the recent change (nothing older)", ev, data)
	}
}

func TestStreamNeedsASessionAndIsBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.StreamsPerUser = 2; c.MaxStreams = 3 })
	anon := f.browser(t)
	if _, code := anon.stream(); code != http.StatusUnauthorized {
		t.Errorf("stream without a session: %d, want 401", code)
	}
	alice := f.browser(t)
	alice.signIn("alice")
	for range 2 {
		if _, code := alice.stream(); code != http.StatusOK {
			t.Fatalf("stream: %d", code)
		}
	}
	if _, code := alice.stream(); code != http.StatusTooManyRequests {
		t.Errorf("third stream of one user: %d, want 429", code)
	}
	bob := f.browser(t)
	bob.signIn("bob")
	if _, code := bob.stream(); code != http.StatusOK {
		t.Fatalf("bob's stream: %d", code)
	}
	carol := f.browser(t)
	carol.signIn("carol")
	if _, code := carol.stream(); code != http.StatusServiceUnavailable {
		t.Errorf("stream over the replica's bound: %d, want 503", code)
	}
}

func TestStreamHeartbeatsAndEndsAtSignOut(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	alice := f.browser(t)
	alice.signIn("alice")
	s, _ := alice.stream()
	s.next(5 * time.Second) // hello
	deadline := time.After(5 * time.Second)
	for beat := false; !beat; {
		select {
		case e := <-s.events:
			beat = e == [2]string{"comment", ": ping"}
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}
	alice.do("POST", "/auth/logout", "")
	if ev, _ := s.next(5 * time.Second); ev != "closed" {
		t.Errorf("after sign-out the stream sent %q, want it closed", ev)
	}
	if n := f.app.hub.count(); n != 0 {
		t.Errorf("%d streams open after sign-out", n)
	}
}

func TestStreamsEndWhenTheAppStops(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.browser(t)
	alice.signIn("alice")
	s, _ := alice.stream()
	s.next(5 * time.Second)
	f.stop()
	if ev, _ := s.next(5 * time.Second); ev != "closed" {
		t.Errorf("after stop the stream sent %q", ev)
	}
}

func TestSlowStreamIsCutNotWaitedFor(t *testing.T) {
	h := newHub(10, 10, 10)
	s, err := h.open("alice", "127.0.0.1", "s")
	if err != nil {
		t.Fatal(err)
	}
	for i := range streamBuffer + 1 {
		h.publish("alice", message{event: "task", data: []byte(strconv.Itoa(i))})
	}
	select {
	case <-s.gone:
	default:
		t.Fatal("a stream that stopped reading was not dropped")
	}
}

func TestSidecarRoutesNeedTheAppToken(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/dapr/subscribe", "/events/task-events", "/events/reminders"} {
		req, _ := http.NewRequest(http.MethodPost, f.side.URL+p, strings.NewReader(`{}`))
		if p == "/dapr/subscribe" {
			req.Method = "GET"
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without the app token: %d", req.Method, p, resp.StatusCode)
		}
	}
	subs := consumertest.Subscriptions(t, f.side.Config.Handler, testAppToken)
	topics := map[string]bool{}
	for _, s := range subs {
		if s.PubSubName != "live-pubsub" {
			t.Errorf("subscription %s on %s, want live-pubsub", s.Topic, s.PubSubName)
		}
		topics[s.Topic] = true
	}
	if !topics[events.TopicTaskEvents] || !topics[events.TopicReminders] || len(topics) != 2 {
		t.Errorf("subscribed to %v", topics)
	}
}

func TestPagesAreServedCompressedWithSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET /: %d, encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(zr)
	if !bytes.Contains(bytes.ToLower(page), []byte("<!doctype html")) {
		t.Errorf("GET / is not the page: %.80q", page)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff", "Content-Type": "text/html",
	} {
		if !strings.Contains(resp.Header.Get(k), want) {
			t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), want)
		}
	}
	etag := resp.Header.Get("ETag")
	req.Header.Set("If-None-Match", etag)
	again, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if etag == "" || again.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation with ETag %q: %d, want 304", etag, again.StatusCode)
	}
	for _, p := range []string{"/assets/nope.js", "/nope", "/assets/../web_test.go"} {
		resp, raw := f.browser(t).do("GET", p, "")
		if resp.StatusCode != http.StatusNotFound && !isRedirect(resp.StatusCode) {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		} else if resp.StatusCode == http.StatusNotFound {
			errorBody(t, raw)
		}
	}
}

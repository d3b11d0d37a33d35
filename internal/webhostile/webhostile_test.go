// Package webhostile is the outside-in hostile suite of web-app, beside
// internal/hostile (todo-api's): generated requests from anonymous
// visitors, signed-in people and forgers, with odd methods, hosts, cookies
// and headers, sent to the real system (web-app and todo-api, each with
// its daprd sidecar, the dev broker, the state store in PostgreSQL). It
// asserts that nothing answers 5xx, that another Host is refused with no
// cookie, that nothing is written before a sign-in, that no one sees
// another's data, and that web-app's memory and metrics stay bounded.
//
// TestWebHostile runs at CI size in make test; make fuzz runs it for
// FUZZTIME (-webhostile.duration).
package webhostile

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"pgregory.net/rapid"

	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/pgtest"
)

var duration = flag.Duration("webhostile.duration", 0, "run generated cases for this long (make fuzz); 0: the CI size")

// ciChecks is the number of cases of the CI-size run.
const ciChecks = 400

// target is the running system and the people the generator knows.
type target struct {
	sys   *devstack.System
	dbURL string
	base  string // web-app's public URL
	host  string // its Host

	alice, bob *person
	secretOf   map[string]string // user -> the title of a task only they have
	sent       atomic.Int64
	signIns    atomic.Int64
}

// person is a browser with a session.
type person struct {
	user   string
	client *http.Client
	cookie *http.Cookie
}

func start(t *testing.T) *target {
	t.Helper()
	root, err := devstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	daprd, ok := devstack.FindDaprd(root)
	if !ok {
		msg := fmt.Sprintf("daprd %s is not built (%s); run `make daprd`", devstack.DaprVersion, daprd)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin := t.TempDir()
	if err := devstack.BuildBinaries(ctx, root, bin, devstack.Binaries...); err != nil {
		t.Fatal(err)
	}
	dbURL := pgtest.NewDatabase(t)
	logs := &strings.Builder{}
	out := &syncWriter{b: logs}
	sys, err := devstack.Up(ctx, devstack.Config{
		Root: root, WorkDir: t.TempDir(), Out: out, Daprd: daprd, BinDir: bin, DatabaseURL: dbURL,
		JWTSecret: "webhostile-secret-webhostile-secret-0123", LogFormat: "json", LogLevel: "warn", DaprLogLevel: "warn",
		OnlyApps: []string{"todo-api", "audit-service", "notification-service", "web-app"}, DevSignIn: true, LockWait: 15 * time.Minute,
		// Everything comes from 127.0.0.1: the per-address limits are
		// raised so that the generated sign-ins are not all refused
		// (TestWebAppFromOutside in internal/e2e tests the limits).
		AppEnvFor: map[string][]string{"web-app": {"SIGNIN_RATE_PER_MINUTE=60000", "SIGNIN_BURST=100000",
			"STREAM_OPEN_RATE_PER_MINUTE=60000", "STREAM_OPEN_BURST=100000", "STREAMS_PER_CLIENT=100000"}},
	})
	t.Cleanup(func() {
		if sys != nil {
			sys.Close()
		}
		if t.Failed() {
			t.Logf("process output (last lines):\n%s", tail(out.String(), 100))
		}
	})
	if err != nil {
		t.Fatalf("start system: %v", err)
	}
	web := sys.Instances["web-app"]
	u, _ := url.Parse(web.URL())
	tg := &target{sys: sys, dbURL: dbURL, base: web.URL(), host: u.Host, secretOf: map[string]string{}}
	tg.alice, tg.bob = tg.signIn(t, "alice"), tg.signIn(t, "bob")
	for _, p := range []*person{tg.alice, tg.bob} {
		secret := p.user + "-secret-" + rand.Text()
		tg.secretOf[p.user] = secret
		resp, err := p.client.Post(tg.base+"/api/tasks", "application/json", strings.NewReader(`{"title":"`+secret+`"}`))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("seed %s's task: %v %v", p.user, err, resp)
		}
		resp.Body.Close()
	}
	return tg
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sameOrigin marks a request as a browser's same-origin fetch.
func sameOrigin(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }

type originTransport struct{}

func (originTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	sameOrigin(r)
	return http.DefaultTransport.RoundTrip(r)
}

// signIn signs user in with the dev sign-in, as a browser.
func (tg *target) signIn(t *testing.T, user string) *person {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: originTransport{}, Timeout: 30 * time.Second}
	resp, err := c.Post(tg.base+"/auth/dev", "application/json", strings.NewReader(`{"user":"`+user+`"}`))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign in %s: %v %v", user, err, resp)
	}
	resp.Body.Close()
	u, _ := url.Parse(tg.base)
	p := &person{user: user, client: c}
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "todo_session" {
			p.cookie = ck
		}
	}
	if p.cookie == nil {
		t.Fatal("no session cookie")
	}
	return p
}

// fataler is what testing.TB and *rapid.T share.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// rows is the number of rows in the state store's table.
func (tg *target) rows(t fataler) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), tg.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM dapr_state`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The pieces the generator combines.
var (
	methods = []string{"GET", "GET", "GET", "POST", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "TRACE",
		"PROPFIND", "get", "M-SEARCH", strings.Repeat("X", 2000)}
	paths = []string{"/", "/session", "/stream", "/auth/dev", "/auth/login", "/auth/callback", "/auth/logout",
		"/api/tasks", "/api/tasks/1", "/api/tasks/1/history", "/api/notifications", "/api/tasks?status=all",
		"/assets/app.js", "/assets/index.html", "/assets/../../etc/passwd", "/api/../auth/logout", "/api/tasks/..%2F..%2Finternal",
		"/.well-known/jwks.json", "/dapr/subscribe", "/events/task-events", "/events/reminders", "/internal/reminders/due",
		"/healthz", "/readyz", "/metrics", "/debug/pprof/", "//api/tasks", "/API/TASKS", "/api/%00", "/%2e%2e/", "/auth/callback?state=" +
			strings.Repeat("A", 43) + "&code=x", "/auth/callback?error=access_denied", "/?signin_error=<script>"}
	bodies = []string{"", `{"user":"alice"}`, `{"user":"bob"}`, `{"user":"mallory"}`, `{"user":"../bob"}`, `{"user":"` + strings.Repeat("a", 70) + `"}`,
		`{"title":"x"}`, `{"title":"` + strings.Repeat("é", 300) + `"}`, `{`, `[]`, "\x00\xff", `{"user":"a\u0000"}`, strings.Repeat("{", 5000)}
	cookies = []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 43) + "." + strings.Repeat("B", 43), "%00",
		strings.Repeat("z", 4000)}
	headerNames  = []string{"Origin", "Sec-Fetch-Site", "X-Forwarded-For", "Forwarded", "Traceparent", "Baggage", "Authorization", "Content-Type", "X-Real-Ip", "Accept-Encoding", "If-None-Match", "Range"}
	headerValues = []string{"", "cross-site", "same-origin", "https://evil.example", "null", "127.0.0.1", "1.2.3.4, 10.0.0.1",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Bearer " + strings.Repeat("a", 100), "gzip", "*", "bytes=0-10",
		strings.Repeat("v", 3000), "application/json", "text/plain"}
)

// actor is who sends a request: anonymous, a forger, or a signed-in person.
type actor struct {
	name   string
	person *person // nil: not signed in
	cookie string  // a made-up session cookie
}

func (tg *target) genActor(t *rapid.T) actor {
	switch rapid.IntRange(0, 5).Draw(t, "actor") {
	case 0, 1:
		return actor{name: "alice", person: tg.alice}
	case 2:
		return actor{name: "bob", person: tg.bob}
	case 3: // alice's id under a MAC of its own
		id, _, _ := strings.Cut(tg.alice.cookie.Value, ".")
		return actor{name: "forger", cookie: id + "." + strings.Repeat("A", 43)}
	default:
		return actor{name: "anonymous", cookie: rapid.SampledFrom(cookies).Draw(t, "cookie")}
	}
}

// answer is one response, read.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	cookies []*http.Cookie
}

// send makes one request as a; a stream is read until its first event.
func (tg *target) send(ctx context.Context, a actor, method, path, host, body string, headers [][2]string) (answer, error) {
	tg.sent.Add(1)
	req, err := http.NewRequestWithContext(ctx, method, tg.base+"/", strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	u, _ := url.Parse(tg.base)
	u.Opaque, u.RawQuery = path, ""
	if p, q, ok := strings.Cut(path, "?"); ok {
		u.Opaque, u.RawQuery = p, q
	}
	req.URL = u
	req.Host = host
	sameOrigin(req)
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	if a.person != nil {
		req.AddCookie(a.person.cookie)
	} else if a.cookie != "" {
		req.Header.Set("Cookie", "todo_session="+a.cookie)
	}
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var b []byte
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		b = []byte(line)
	} else {
		b, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b, cookies: resp.Cookies()}, err
}

// check sends 1-8 generated requests and checks each answer and, after
// them, the store.
func (tg *target) check(t *rapid.T) {
	before := tg.rows(t)
	expectRows := before
	n := rapid.IntRange(1, 8).Draw(t, "requests")
	for range n {
		a := tg.genActor(t)
		method := rapid.SampledFrom(methods).Draw(t, "method")
		path := rapid.SampledFrom(paths).Draw(t, "path")
		body := rapid.SampledFrom(bodies).Draw(t, "body")
		host := tg.host
		switch rapid.IntRange(0, 7).Draw(t, "hostkind") {
		case 0:
			host = rapid.SampledFrom([]string{"evil.example", "rebind.evil.example:" + strings.Split(tg.host, ":")[1],
				"127.0.0.1.evil.example", "10.0.0.1", "[::2]", strings.Repeat("h", 300) + ".example"}).Draw(t, "host")
		case 1:
			host = rapid.SampledFrom([]string{"localhost:" + strings.Split(tg.host, ":")[1], "LOCALHOST", "[::1]:1"}).Draw(t, "loopbackhost")
		}
		var headers [][2]string
		for range rapid.IntRange(0, 3).Draw(t, "headers") {
			headers = append(headers, [2]string{rapid.SampledFrom(headerNames).Draw(t, "hname"), rapid.SampledFrom(headerValues).Draw(t, "hvalue")})
		}
		if path == "/auth/dev" && method == "POST" && a.person == nil {
			// A sign-in: whoever it is for, it must not be one of the
			// people the generator keeps (a new session would be fine, but
			// it is not the point: the anonymous paths are).
			body = `{"user":"visitor` + strconv.Itoa(rapid.IntRange(0, 9).Draw(t, "visitor")) + `"}`
		}
		if path == "/auth/logout" && a.person != nil {
			continue // the generator's people stay signed in
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ans, err := tg.send(ctx, a, method, path, host, body, headers)
		cancel()
		where := fmt.Sprintf("%.40s %s Host %.40s as %s with %.200v body %.60q", method, path, host, a.name, headers, body)
		if err != nil {
			// net/http refuses a malformed request before any handler (a
			// plain 400 and a closed connection).
			if strings.Contains(err.Error(), "invalid") || strings.Contains(err.Error(), "malformed") {
				continue
			}
			t.Fatalf("%s: %v", where, err)
		}
		if ans.status >= 500 {
			t.Fatalf("%s: answered %d %s", where, ans.status, ans.body)
		}
		if ans.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d without nosniff", where, ans.status)
		}
		hostOK := host == tg.host || strings.HasPrefix(strings.ToLower(host), "localhost") || strings.HasPrefix(host, "[::1]")
		if !hostOK && (ans.status != http.StatusMisdirectedRequest || len(ans.cookies) != 0) {
			t.Fatalf("%s: another Host answered %d with cookies %v", where, ans.status, ans.cookies)
		}
		if a.person == nil && len(ans.cookies) > 0 && (ans.status != http.StatusNoContent || path != "/auth/dev") {
			for _, c := range ans.cookies {
				if c.MaxAge >= 0 && c.Value != "" {
					t.Fatalf("%s: an anonymous request got a cookie %s", where, c.Name)
				}
			}
		}
		if ans.status == http.StatusNoContent && path == "/auth/dev" && method == "POST" {
			expectRows++
			tg.signIns.Add(1)
		}
		// No one sees another's data; no one anonymous sees anyone's.
		for user, secret := range tg.secretOf {
			if strings.Contains(string(ans.body), secret) && (a.person == nil || a.person.user != user) {
				t.Fatalf("%s: the answer holds %s's task: %.300s", where, user, ans.body)
			}
		}
		if ans.status >= 400 && method != "HEAD" && len(ans.body) > 0 {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if json.Unmarshal(ans.body, &e) != nil || e.Error.Code == "" {
				t.Fatalf("%s: %d without the JSON error body: %.300s", where, ans.status, ans.body)
			}
		}
	}
	if after := tg.rows(t); after != expectRows {
		t.Fatalf("the state store has %d rows, want %d (%d before, and one per successful sign-in): something anonymous wrote", after, expectRows, before)
	}
}

// metricsOf reads web-app's /metrics: its size and number of series.
func metricsOf(t testing.TB, u string) (size, series int) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	return len(b), series
}

func rssMiB(t testing.TB, p *devstack.Process) float64 {
	t.Helper()
	mib, err := p.RSSMiB()
	if err != nil {
		t.Fatal(err)
	}
	return mib
}

func TestWebHostile(t *testing.T) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !explicit {
		if err := f.Value.Set(strconv.Itoa(ciChecks)); err != nil {
			t.Fatal(err)
		}
	}
	tg := start(t)
	web := tg.sys.Instances["web-app"]
	size0, series0 := metricsOf(t, web.MetricsURL())
	rss0 := rssMiB(t, web.Proc)
	deadline := time.Now().Add(*duration)
	for round := 0; ; round++ {
		rapid.Check(t, tg.check)
		if t.Failed() || !time.Now().Before(deadline) {
			break
		}
		if round%10 == 0 {
			t.Logf("%s left, %d requests so far", time.Until(deadline).Round(time.Second), tg.sent.Load())
		}
	}
	size1, series1 := metricsOf(t, web.MetricsURL())
	rss1 := rssMiB(t, web.Proc)
	t.Logf("%d requests (%d sign-ins); web-app /metrics %d -> %d bytes, %d -> %d series; RSS %.1f -> %.1f MiB",
		tg.sent.Load(), tg.signIns.Load(), size0, size1, series0, series1, rss0, rss1)
	if series1-series0 > 1000 || size1 > 512<<10 {
		t.Errorf("web-app's /metrics grew to %d bytes, %d series", size1, series1)
	}
	if rss1-rss0 > 64 {
		t.Errorf("web-app's RSS grew by %.1f MiB", rss1-rss0)
	}
	// The people still have their sessions, and see none of each other's
	// data (their own may be gone: the generator deletes task 1, alice's).
	for _, p := range []*person{tg.alice, tg.bob} {
		resp, err := p.client.Get(tg.base + "/api/tasks?status=all")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s after the run: %d %.200s", p.user, resp.StatusCode, b)
		}
		for user, secret := range tg.secretOf {
			if user != p.user && strings.Contains(string(b), secret) {
				t.Errorf("%s sees %s's task after the run", p.user, user)
			}
		}
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/internal/devstack"
)

// The web-app binary itself refuses the dev sign-in anywhere but on a
// loopback address without an identity provider: operators install the
// chart with their own values, so no template check is enough.
func TestWebAppRefusesDevSignInOutsideLoopback(t *testing.T) {
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	base := []string{"COOKIE_KEYS=" + strings.Repeat("k", 32), "API_TOKEN_KEYS=" + devstack.NewSigningKey(),
		"APP_ADDR=127.0.0.1:0", "HTTP_ADDR=127.0.0.1:0", "METRICS_ADDR=off", "DEV_SIGNIN=true"}
	oidc := []string{"OIDC_ISSUER=https://id.example.com", "OIDC_CLIENT_ID=web"}
	for _, tt := range []struct {
		name string
		env  []string
		want string
	}{
		{"https, a provider", append([]string{"PUBLIC_URL=https://todo.example.com"}, oidc...), "DEV_SIGNIN=true: refused"},
		{"https", []string{"PUBLIC_URL=https://todo.example.com"}, "DEV_SIGNIN=true: refused with PUBLIC_URL"},
		{"uppercase HTTPS", []string{"PUBLIC_URL=HTTPS://todo.example.com"}, "DEV_SIGNIN=true: refused with PUBLIC_URL"},
		{"a provider on loopback", append([]string{"PUBLIC_URL=http://127.0.0.1:8085"}, oidc...), "DEV_SIGNIN=true: refused with OIDC_ISSUER set"},
		{"a name that starts like 127.", []string{"PUBLIC_URL=http://127.todo.example.com"}, "must be https outside a loopback address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, "web"))
			cmd.Env = append(append([]string{}, base...), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("web-app started (or died otherwise): %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// visitor is a browser at its own loopback address (127.0.0.x), so that
// web-app's per-address limits tell visitors apart as they would tell
// apart people on the internet.
type visitor struct {
	t    *testing.T
	base string
	host string // Host header; "" for the base's own
	hc   *http.Client
}

func newVisitor(t *testing.T, base, addr string) *visitor {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &visitor{t: t, base: base, hc: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// reply is an answer, read and closed.
type reply struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (r reply) Cookies() []*http.Cookie { return r.cookies }

func (v *visitor) do(method, path, body string, header ...string) (reply, []byte) {
	v.t.Helper()
	req, err := http.NewRequest(method, v.base+path, strings.NewReader(body))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if v.host != "" {
		req.Host = v.host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, cookies: resp.Cookies()}, b
}

func (v *visitor) signIn(user string) int {
	v.t.Helper()
	resp, _ := v.do("POST", "/auth/dev", `{"user":`+strconv.Quote(user)+`}`)
	return resp.StatusCode
}

func (v *visitor) signedIn() bool {
	v.t.Helper()
	resp, b := v.do("GET", "/session", "")
	var info struct {
		SignedIn bool `json:"signed_in"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &info) != nil {
		v.t.Fatalf("GET /session: %d %s", resp.StatusCode, b)
	}
	return info.SignedIn
}

// openStream opens GET /stream; ok is the 200 whose first event is hello.
// The stream stays open until the test ends or closed is read.
func (v *visitor) openStream() (status int, closed <-chan struct{}) {
	v.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	v.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/stream", nil)
	resp, err := v.hc.Do(req) //nolint:bodyclose // closed here on a refusal, else by the reading goroutine
	if err != nil {
		v.t.Fatalf("GET /stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	done := make(chan struct{})
	hello := make(chan bool, 1)
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		first := true
		for sc.Scan() {
			if first && strings.HasPrefix(sc.Text(), "event: ") {
				hello <- sc.Text() == "event: hello"
				first = false
			}
		}
	}()
	select {
	case ok := <-hello:
		if !ok {
			v.t.Fatal("the stream's first event is not hello")
		}
	case <-time.After(10 * time.Second):
		v.t.Fatal("no hello on the stream")
	}
	return http.StatusOK, done
}

// stateRows is the number of rows of the state store's table: what web-app
// has written (sessions), and what the other apps have.
func stateRows(t *testing.T, dbURL string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM dapr_state`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// webLimits are this test's per-address limits: each part of it comes
// from loopback addresses of its own, so that the parts do not share them.
var webLimits = []string{"SIGNIN_RATE_PER_MINUTE=6", "SIGNIN_BURST=4", "STREAM_OPEN_RATE_PER_MINUTE=60",
	"STREAM_OPEN_BURST=20", "STREAMS_PER_CLIENT=3", "STREAMS_PER_USER=8",
	"STREAM_RECHECK=1s", "STREAM_SESSION_GRACE=3s"}

// web-app from the outside, through the real binaries, sidecars and
// PostgreSQL: the Host check, no write before sign-in, per-address limits
// on sign-ins and streams, sign-out and streams that fail closed when the
// session store cannot be reached.
func TestWebAppFromOutside(t *testing.T) {
	e := startSystemWith(t, func(c *devstack.Config) { c.AppEnvFor["web-app"] = webLimits }, "todo-api", "web-app")
	inst := e.sys.Instances["web-app"]
	base := inst.URL()

	t.Run("another Host is refused before anything runs", func(t *testing.T) {
		before := stateRows(t, e.dbURL)
		v := newVisitor(t, base, "127.0.0.10")
		for _, host := range []string{"rebind.evil.example:" + strconv.Itoa(inst.Port), "todo.example.com", "192.168.1.2"} {
			v.host = host
			for _, r := range [][3]string{{"GET", "/", ""}, {"GET", "/session", ""}, {"POST", "/auth/dev", `{"user":"alice"}`},
				{"GET", "/api/tasks", ""}, {"GET", "/stream", ""}} {
				resp, b := v.do(r[0], r[1], r[2])
				if resp.StatusCode != http.StatusMisdirectedRequest || len(resp.Cookies()) != 0 || !bytes.Contains(b, []byte(`"wrong_host"`)) {
					t.Errorf("%s %s with Host %s: %d %v %s", r[0], r[1], host, resp.StatusCode, resp.Cookies(), b)
				}
			}
		}
		if after := stateRows(t, e.dbURL); after != before {
			t.Errorf("requests for other hosts wrote %d rows", after-before)
		}
	})

	t.Run("anonymous requests write nothing", func(t *testing.T) {
		before := stateRows(t, e.dbURL)
		v := newVisitor(t, base, "127.0.0.11")
		forged := []string{"x", strings.Repeat("A", 43), strings.Repeat("A", 43) + "." + strings.Repeat("B", 43), "%00"}
		for i := range 200 {
			c := forged[i%len(forged)]
			v.do("GET", "/session", "", "Cookie", "todo_session="+c)
			v.do("GET", "/api/tasks", "", "Cookie", "todo_session="+c)
			v.do("GET", "/stream", "", "Cookie", "todo_session="+c)
			v.do("POST", "/auth/logout", "", "Cookie", "todo_session="+c)
			v.do("GET", "/auth/login", "")
			v.do("GET", "/auth/callback?state=x&code=y", "", "Cookie", "todo_login="+c)
			v.do("GET", "/", "")
		}
		if after := stateRows(t, e.dbURL); after != before {
			t.Errorf("anonymous requests wrote %d rows", after-before)
		}
	})

	t.Run("sign-ins are limited per address", func(t *testing.T) {
		v := newVisitor(t, base, "127.0.0.12")
		codes := []int{}
		for i := range 8 {
			codes = append(codes, v.signIn(fmt.Sprintf("burst%d", i)))
		}
		ok, limited := 0, 0
		for _, c := range codes {
			switch c {
			case http.StatusNoContent:
				ok++
			case http.StatusTooManyRequests:
				limited++
			}
		}
		if ok != 4 || limited != 4 {
			t.Errorf("8 sign-ins from one address: %v, want 4 then 429s (SIGNIN_BURST=4)", codes)
		}
		if c := newVisitor(t, base, "127.0.0.13").signIn("someone-else"); c != http.StatusNoContent {
			t.Errorf("a sign-in from another address: %d", c)
		}
	})

	t.Run("one address cannot take every stream", func(t *testing.T) {
		// Many identities from one address: at most STREAMS_PER_CLIENT
		// streams between them.
		open := 0
		for i := range 4 {
			v := newVisitor(t, base, "127.0.0.14")
			if c := v.signIn(fmt.Sprintf("sybil%d", i)); c != http.StatusNoContent {
				t.Fatalf("sign-in %d: %d", i, c)
			}
			for range 2 {
				if st, _ := v.openStream(); st == http.StatusOK {
					open++
				} else if st != http.StatusTooManyRequests {
					t.Errorf("stream over the address's cap: %d, want 429", st)
				}
			}
		}
		if open != 3 {
			t.Errorf("one address holds %d streams, want STREAMS_PER_CLIENT=3", open)
		}
		// Another person, elsewhere, still gets one.
		bob := newVisitor(t, base, "127.0.0.15")
		bob.signIn("bob")
		if st, _ := bob.openStream(); st != http.StatusOK {
			t.Errorf("another address's stream: %d", st)
		}
	})

	t.Run("sign-out and streams fail closed", func(t *testing.T) {
		v := newVisitor(t, base, "127.0.0.16")
		if c := v.signIn("carol"); c != http.StatusNoContent {
			t.Fatalf("sign-in: %d", c)
		}
		_, streamDone := v.openStream()
		// The session store goes: web-app's sidecar dies.
		inst.Daprd.Kill()
		<-inst.Daprd.Done()
		killed := time.Now()
		resp, b := v.do("POST", "/auth/logout", "")
		if resp.StatusCode != http.StatusServiceUnavailable || len(resp.Cookies()) != 0 {
			t.Errorf("sign-out without the store: %d %v %s, want a 503 that keeps the cookie", resp.StatusCode, resp.Cookies(), b)
		}
		select {
		case <-streamDone:
			t.Logf("the stream closed %v after the store went (grace 3s, recheck 1s)", time.Since(killed).Round(100*time.Millisecond))
		case <-time.After(15 * time.Second):
			t.Error("the stream still runs 15 s after its session store went (grace 3s)")
		}
		if st, _ := v.openStream(); st != http.StatusServiceUnavailable {
			t.Errorf("a stream opened without the store: %d, want 503", st)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if err := e.sys.StartDaprd(ctx, inst); err != nil {
			t.Fatal(err)
		}
		// The failed sign-out said so; the session still works, and now
		// the sign-out ends it.
		if !v.signedIn() {
			t.Fatal("the session is gone although the sign-out failed")
		}
		if resp, _ := v.do("POST", "/auth/logout", ""); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("sign-out: %d", resp.StatusCode)
		}
		if v.signedIn() {
			t.Error("still signed in after the sign-out")
		}
	})
}

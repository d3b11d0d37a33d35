package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSealedCookies(t *testing.T) {
	old, err := parseCookieKeys(testCookieKey)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := parseCookieKeys("fedcba9876543210fedcba9876543210, " + testCookieKey)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := parseCookieKeys("another-key-another-key-another-key")
	now := time.Now()
	in := login{State: "s", Verifier: "v", Nonce: "n"}
	v, err := old.sealValue(loginCookie, in, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var out login
	if err := rotated.openValue(loginCookie, v, now, &out); err != nil || out != in {
		t.Fatalf("opened by the rotated keys: %+v, %v", out, err)
	}
	tampered := []byte(v)
	tampered[len(tampered)/2] ^= 1
	for name, tt := range map[string]struct {
		keys  *cookieKeys
		name  string
		value string
		at    time.Time
	}{
		"another cookie's name": {old, "todo_session", v, now},
		"expired":               {old, loginCookie, v, now.Add(time.Minute)},
		"tampered":              {old, loginCookie, string(tampered), now},
		"no key of ours":        {other, loginCookie, v, now},
		"not base64":            {old, loginCookie, "%%%", now},
		"too short":             {old, loginCookie, "AAAA", now},
		"too long":              {old, loginCookie, strings.Repeat("A", 4096), now},
	} {
		if err := tt.keys.openValue(tt.name, tt.value, tt.at, &out); !errors.Is(err, errBadCookie) {
			t.Errorf("%s: %v", name, err)
		}
	}

	id := randomID()
	signed := old.signSession(id)
	if got, ok := rotated.verifySession(signed); !ok || got != id {
		t.Errorf("a session signed with the old key is refused after the rotation")
	}
	if _, ok := other.verifySession(signed); ok {
		t.Error("a session signed with another key was accepted")
	}
	for _, forged := range []string{id, id + "." + strings.Repeat("A", 43), randomID() + signed[idLen:], signed[:len(signed)-1] + "B", ""} {
		if _, ok := old.verifySession(forged); ok {
			t.Errorf("forged %q accepted", forged)
		}
	}
}

// A random or forged session cookie is refused without a store read.
func TestForgedSessionCookiesCostNoRead(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	var real string
	for _, c := range b.client.Jar.Cookies(mustParse(f.srv.URL)) {
		real = c.Value
	}
	reads, writes := f.state.counts()
	for _, v := range []string{randomID(), randomID() + "." + randomID(), real[:idLen] + "." + randomID(), randomID() + real[idLen:]} {
		for _, p := range []string{"/session", "/api/tasks", "/stream"} {
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+p, nil)
			req.AddCookie(&http.Cookie{Name: "todo_session", Value: v})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if p != "/session" && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with a forged cookie: %d", p, resp.StatusCode)
			}
		}
	}
	if r, w := f.state.counts(); r != reads || w != writes {
		t.Errorf("forged cookies cost %d reads and %d writes", r-reads, w-writes)
	}
}

// An anonymous visitor writes nothing: pages, the session check, refused
// sign-ins, the API and the stream.
func TestNoWriteBeforeSignIn(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	for _, r := range [][3]string{
		{"GET", "/", ""}, {"GET", "/session", ""}, {"GET", "/api/tasks", ""}, {"GET", "/stream", ""},
		{"POST", "/auth/dev", `{"user":"../x"}`}, {"POST", "/auth/logout", ""}, {"GET", "/auth/login", ""},
		{"GET", "/auth/callback?state=x&code=y", ""},
	} {
		b.do(r[0], r[1], r[2])
	}
	if reads, writes := f.state.counts(); reads != 0 || writes != 0 {
		t.Errorf("anonymous requests made %d reads and %d writes", reads, writes)
	}
}

func TestClientKey(t *testing.T) {
	trusted, err := parseProxies("10.0.0.0/8, 2001:db8:1::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"203.0.113.7:5555", nil, "203.0.113.7"},
		{"203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"}, // an untrusted peer's header is ignored
		{"10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:80", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"}, // right-most untrusted
		{"10.1.2.3:80", []string{"1.1.1.1", "198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:80", []string{"198.51.100.1, garbage"}, "10.1.2.3"}, // nothing right of garbage to believe
		{"10.1.2.3:80", nil, "10.1.2.3"},
		{"10.1.2.3:80", []string{"10.4.4.4"}, "10.4.4.4"},
		{"[2001:db8:1::1]:443", []string{"2001:db8:abcd:12::5"}, "2001:db8:abcd:12::/64"},
		{"[2001:db8:abcd:12::99]:443", nil, "2001:db8:abcd:12::/64"},
		{"[::ffff:203.0.113.7]:1", nil, "203.0.113.7"},
		{"not an address", nil, "unknown"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.peer
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientKey(r, trusted); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %q, want %q", tt.peer, tt.xff, got, tt.want)
		}
	}
	long := strings.Repeat("198.51.100.9, ", 10000) + "198.51.100.1"
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr, r.Header["X-Forwarded-For"] = "10.0.0.1:1", []string{long}
	if got := clientKey(r, trusted); got != "198.51.100.1" {
		t.Errorf("a long header: %q", got)
	}
	if _, err := parseProxies("10.0.0.0/8,example.com"); err == nil {
		t.Error("a name was taken as a proxy")
	}
	if p, _ := parseProxies("10.1.2.3/8"); p[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("prefix not masked: %v", p)
	}
}

// One address cannot take every stream, whatever identities it uses; the
// per-user and replica bounds still hold.
func TestHubBoundsEachClientAddress(t *testing.T) {
	h := newHub(2, 3, 100)
	for i := range 3 {
		if _, err := h.open("user"+string(rune('a'+i)), "203.0.113.7", "s"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.open("mallory", "203.0.113.7", "s"); !errors.Is(err, errClientStreams) {
		t.Errorf("a fourth identity from one address: %v", err)
	}
	s, err := h.open("alice", "198.51.100.1", "s")
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	h.close(s)
	if n := h.count(); n != 3 || h.clients["198.51.100.1"] != 0 {
		t.Errorf("after close: %d open, %v", n, h.clients)
	}
}

func TestStreamConfirmationFailsClosed(t *testing.T) {
	t0 := time.Now()
	down := errors.New("store down")
	c := newConfirmer(time.Minute, 90*time.Second, t0)
	if !c.result(nil, t0.Add(time.Minute)) || c.next != time.Minute {
		t.Fatal("a confirmed session did not go on")
	}
	// Confirmed at t0+1m; the store fails from then on.
	if !c.result(down, t0.Add(2*time.Minute)) || c.next != 30*time.Second {
		t.Fatalf("first failure: next %v, want the 30 s left of the grace", c.next)
	}
	if c.result(down, t0.Add(2*time.Minute+30*time.Second)) {
		t.Fatal("still going after the grace")
	}
	c = newConfirmer(time.Minute, 2*time.Minute, t0)
	if c.result(errNoSession, t0.Add(time.Minute)) {
		t.Fatal("a signed-out session went on")
	}
}

// The stream of a session that cannot be confirmed ends after the grace.
func TestStreamEndsWhenItsSessionCannotBeConfirmed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.StreamRecheck, c.StreamGrace = 50*time.Millisecond, 300*time.Millisecond })
	alice := f.browser(t)
	alice.signIn("alice")
	s, _ := alice.stream()
	s.next(5 * time.Second) // hello
	f.state.setFail(true)
	start := time.Now()
	if ev, _ := s.next(5 * time.Second); ev != "closed" {
		t.Fatalf("the stream sent %q, want it closed", ev)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("closed after %v, before the grace", took)
	}
}

// A sign-out that cannot delete the session says so and keeps the cookie;
// the session is not left working behind a page that says it ended.
func TestSignOutFailsVisibly(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	f.state.setFail(true)
	resp, raw := b.do("POST", "/auth/logout", "")
	if resp.StatusCode != http.StatusServiceUnavailable || len(resp.Cookies()) != 0 {
		t.Fatalf("sign-out with the store down: %d %v %s", resp.StatusCode, resp.Cookies(), raw)
	}
	errorBody(t, raw)
	f.state.setFail(false)
	if resp, _ := b.do("GET", "/api/tasks", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the failed sign-out the session should still be there: %d", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/auth/logout", ""); resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("sign-out: %d %v", resp.StatusCode, resp.Cookies())
	}
	if f.state.len() != 0 {
		t.Error("the session is still stored")
	}
}

func TestSignInsAndStreamOpensAreLimitedPerAddress(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.SignInPerMinute, c.SignInBurst = 1, 3
		c.StreamOpenPerMinute, c.StreamOpenBurst = 1, 2
	})
	for i := range 3 {
		f.browser(t).signIn("user" + string(rune('a'+i)))
	}
	resp, raw := f.browser(t).do("POST", "/auth/dev", `{"user":"mallory"}`)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || errorBody(t, raw).Code != "rate_limited" {
		t.Errorf("a fourth sign-in from one address: %d %s", resp.StatusCode, raw)
	}
	b := f.browser(t)
	f.app.signIns = nil // signing in again is not what this part tests
	b.signIn("alice")
	for range 2 {
		if _, code := b.stream(); code != http.StatusOK {
			t.Fatalf("stream: %d", code)
		}
	}
	if _, code := b.stream(); code != http.StatusTooManyRequests {
		t.Errorf("a third stream open within the burst: %d", code)
	}
}

func TestAnswersCarryNoSniffAndHSTSOnHTTPS(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/session", "/nope", "/api/tasks"} {
		resp, _ := f.browser(t).do("GET", p, "")
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("GET %s on http: %v", p, resp.Header)
		}
	}
	f = newFixture(t, func(c *Config) {
		c.PublicURL, c.DevSignIn, c.OIDC = "https://todo.example.com", false, OIDCConfig{Issuer: "https://id.example.com", ClientID: "web"}
	})
	for _, host := range []string{"todo.example.com", "evil.example"} {
		resp, _ := f.browser(t).do("GET", "/session", "", "Host", host)
		if resp.Header.Get("Strict-Transport-Security") != hsts {
			t.Errorf("Host %s on https: no HSTS: %v", host, resp.Header)
		}
	}
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// HEAD /stream (which "GET /stream" matches) is refused at once: its body
// would be dropped by net/http, and the stream would hold its connection
// and its slot for good. The hostile suite found it: the next request on
// that connection hung.
func TestHeadStreamIsRefused(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	b.signIn("alice")
	done := make(chan answer, 1)
	go func() {
		resp, _ := b.do("HEAD", "/stream", "")
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
			t.Errorf("HEAD /stream: %d %v", resp.StatusCode, resp.Header)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("HEAD /stream did not answer")
	}
	// The connection serves the next request.
	if resp, _ := b.do("GET", "/session", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the next request: %d", resp.StatusCode)
	}
	if n := f.app.hub.count(); n != 0 {
		t.Errorf("%d streams open after HEAD", n)
	}
}

package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// memServer serves the API over the in-memory store of fuzz_test.go.
func memServer(t *testing.T, cfg api.Config) *client {
	t.Helper()
	v, err := auth.NewVerifier(jwtCfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := &memStore{tasks: map[int64]task.Task{}}
	srv := httptest.NewServer(api.New(st, v, nil, log, cfg).Handler())
	t.Cleanup(srv.Close)
	return &client{t: t, url: srv.URL}
}

func TestWriteRateLimit(t *testing.T) {
	c := memServer(t, api.Config{WriteRate: 1, WriteBurst: 2})
	alice, bob := token(t, "alice"), token(t, "bob")

	for i := range 2 {
		if r := c.do("POST", "/api/tasks", alice, `{"title":"t"}`); r.Status != http.StatusCreated {
			t.Fatalf("write %d within the burst: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := c.do("POST", "/api/tasks", alice, `{"title":"t"}`)
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("third quick write: %d %s, want 429", r.Status, r.Body)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After = %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Error.Code != api.CodeRateLimited || body.Error.Message == "" {
		t.Errorf("429 body = %s, want {\"error\":{\"code\":\"rate_limited\",\"message\":...}}", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("429 Content-Type = %q", ct)
	}

	// Every write route shares the bucket; the limit is checked before the
	// handler, so even a route whose dependencies are missing here answers 429.
	for _, rt := range [][2]string{{"PATCH", "/api/tasks/1"}, {"DELETE", "/api/tasks/1"}, {"POST", "/api/tasks/1/complete"},
		{"POST", "/api/tasks/1/reopen"}, {"POST", "/api/notifications/n1/read"}} {
		body := ""
		if rt[0] == "PATCH" {
			body = `{"title":"x"}`
		}
		if r := c.do(rt[0], rt[1], alice, body); r.Status != http.StatusTooManyRequests || r.errorCode() != "rate_limited" {
			t.Errorf("%s %s over the limit: %d %s", rt[0], rt[1], r.Status, r.Body)
		}
	}
	// Reads are not limited.
	for range 10 {
		if r := c.do("GET", "/api/tasks/1", alice, ""); r.Status != http.StatusOK {
			t.Fatalf("read while over the write limit: %d %s", r.Status, r.Body)
		}
	}
	// Another user has a bucket of its own.
	if r := c.do("POST", "/api/tasks", bob, `{"title":"t"}`); r.Status != http.StatusCreated {
		t.Errorf("bob limited by alice's writes: %d %s", r.Status, r.Body)
	}
	// Authentication comes first: no token is 401, not 429.
	if r := c.do("POST", "/api/tasks", "", `{"title":"t"}`); r.Status != http.StatusUnauthorized {
		t.Errorf("write without a token: %d", r.Status)
	}
	// And the bucket refills.
	time.Sleep(1100 * time.Millisecond)
	if r := c.do("POST", "/api/tasks", alice, `{"title":"t"}`); r.Status != http.StatusCreated {
		t.Errorf("write after a second: %d %s", r.Status, r.Body)
	}
}

func TestWriteLimitDisabled(t *testing.T) {
	if l := api.NewWriteLimiter(api.WriteLimitConfig{PerSecond: 0, Burst: 1}); l != nil {
		t.Fatal("rate 0 made a limiter")
	}
	var l *api.WriteLimiter
	for range 1000 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatal("the disabled limiter limited")
		}
	}
	c := memServer(t, api.Config{WriteRate: 0, WriteBurst: 1})
	alice := token(t, "alice")
	for i := range 50 {
		if r := c.do("POST", "/api/tasks", alice, `{"title":"t"}`); r.Status != http.StatusCreated {
			t.Fatalf("write %d with the limit disabled: %d %s", i+1, r.Status, r.Body)
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestWriteLimiterBucket(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := api.NewWriteLimiter(api.WriteLimitConfig{PerSecond: 1, Burst: 2, Now: clk.now})
	for i := range 2 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("write %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("alice")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third write: %v, wait %v; want refused, wait in (0, 1s]", ok, wait)
	}
	clk.advance(500 * time.Millisecond)
	if ok, wait := l.Allow("alice"); ok || wait > 500*time.Millisecond {
		t.Fatalf("half a second later: %v, wait %v", ok, wait)
	}
	clk.advance(500 * time.Millisecond)
	if ok, _ := l.Allow("alice"); !ok {
		t.Fatal("a second later: still refused")
	}
}

func TestWriteLimiterEvictsIdleUsers(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := api.NewWriteLimiter(api.WriteLimitConfig{PerSecond: 1, Burst: 2, IdleTTL: 10 * time.Minute, Now: clk.now})
	l.Allow("alice")
	l.Allow("bob")
	clk.advance(5 * time.Minute)
	l.Allow("carol")
	if n := l.Len(); n != 3 {
		t.Fatalf("tracked %d users, want 3", n)
	}
	clk.advance(6 * time.Minute) // alice and bob idle 11m, carol 6m
	l.Allow("dave")
	if n := l.Len(); n != 2 {
		t.Fatalf("after 11 idle minutes of alice and bob: tracked %d users, want 2 (carol, dave)", n)
	}
	l.Allow("carol") // seen again: stays
	clk.advance(9 * time.Minute)
	l.Allow("erin") // dave idle 9m+, carol 9m
	if n := l.Len(); n != 3 {
		t.Fatalf("tracked %d users, want 3", n)
	}
	clk.advance(time.Hour)
	l.Allow("frank")
	if n := l.Len(); n != 1 {
		t.Fatalf("after an idle hour: tracked %d users, want 1", n)
	}
}

// Forgetting a user must not hand out a fresh bucket early: with a slow
// rate, an idle entry is kept until its bucket would be full again.
func TestWriteLimiterEvictionDoesNotLoosenTheLimit(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := api.NewWriteLimiter(api.WriteLimitConfig{PerSecond: 0.001, Burst: 2, IdleTTL: 10 * time.Minute, Now: clk.now})
	l.Allow("alice")
	l.Allow("alice")
	if ok, _ := l.Allow("alice"); ok {
		t.Fatal("burst of 2 allowed 3")
	}
	clk.advance(11 * time.Minute) // 0.66 tokens back
	if ok, wait := l.Allow("alice"); ok || wait <= 0 {
		t.Fatalf("after 11 idle minutes the user got a fresh bucket (ok %v, wait %v)", ok, wait)
	}
	clk.advance(time.Hour) // full again, idle long enough: forgotten, then new
	l.Allow("bob")
	if n := l.Len(); n != 1 {
		t.Errorf("tracked %d users, want 1", n)
	}
}

func TestWriteLimiterMaxUsers(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := api.NewWriteLimiter(api.WriteLimitConfig{PerSecond: 1, Burst: 1, MaxUsers: 3, Now: clk.now})
	for i := range 100 {
		l.Allow("user" + strconv.Itoa(i))
		if n := l.Len(); n > 3 {
			t.Fatalf("tracked %d users, cap 3", n)
		}
	}
	// The most recently seen users are the ones kept: user99 is still
	// limited, user0 (forgotten) starts afresh.
	if ok, _ := l.Allow("user99"); ok {
		t.Error("user99 forgotten although among the most recent")
	}
	if ok, _ := l.Allow("user0"); !ok {
		t.Error("user0 still tracked past the cap")
	}
}

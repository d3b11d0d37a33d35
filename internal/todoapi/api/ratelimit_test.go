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
	srv := httptest.NewServer(api.New(st, v, nil, log, cfg).PublicHandler())
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
	c := memServer(t, api.Config{WriteRate: 0, WriteBurst: 1})
	alice := token(t, "alice")
	for i := range 50 {
		if r := c.do("POST", "/api/tasks", alice, `{"title":"t"}`); r.Status != http.StatusCreated {
			t.Fatalf("write %d with the limit disabled: %d %s", i+1, r.Status, r.Body)
		}
	}
}

package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/store"
)

var jwtCfg = auth.Config{Secret: []byte("test-secret-test-secret-test-secret!"), Issuer: "todo-tests", Audience: "todo-api"}

type client struct {
	t   *testing.T
	url string
	app string // the app port's base URL (internal routes), when served
}

func newServer(t *testing.T) *client {
	t.Helper()
	v, err := auth.NewVerifier(jwtCfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(pgtest.NewPool(t))
	s := api.New(st, v, nil, log, api.Config{})
	srv, app := httptest.NewServer(s.PublicHandler()), httptest.NewServer(s.AppHandler())
	t.Cleanup(srv.Close)
	t.Cleanup(app.Close)
	return &client{t: t, url: srv.URL, app: app.URL}
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.Mint(jwtCfg, user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %q", r.Body)
	}
	return m
}

func (r response) errorCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &e) != nil || e.Error.Message == "" {
		return "<no JSON error body: " + string(r.Body) + ">"
	}
	return e.Error.Code
}

func (c *client) do(method, path, tok, body string, headers ...string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func TestTaskLifecycle(t *testing.T) {
	c := newServer(t)
	tok := token(t, "alice")

	r := c.do("POST", "/api/tasks", tok, `{"title":" Buy groceries ","priority":"high","tags":["home"],
		"due_at":"2026-01-31T09:00:00+01:00","recurrence":"monthly","timezone":"Europe/Berlin"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	created := r.json(t)
	id := int64(created["id"].(float64))
	if r.Header.Get("Location") != "/api/tasks/"+itoa(id) {
		t.Errorf("Location = %q", r.Header.Get("Location"))
	}
	if created["title"] != "Buy groceries" || created["user_id"] != "alice" || created["due_at"] != "2026-01-31T08:00:00Z" ||
		created["completed"] != false || created["reminder_at"] != nil {
		t.Errorf("created = %v", created)
	}

	r = c.do("PATCH", "/api/tasks/"+itoa(id), tok, `{"description":"milk","due_at":null}`)
	if r.Status != http.StatusOK || r.json(t)["description"] != "milk" || r.json(t)["due_at"] != nil || r.json(t)["title"] != "Buy groceries" {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	r = c.do("POST", "/api/tasks/"+itoa(id)+"/complete", tok, "")
	if r.Status != http.StatusOK || r.json(t)["completed"] != true || r.json(t)["completed_at"] == nil {
		t.Fatalf("complete: %d %s", r.Status, r.Body)
	}
	r = c.do("GET", "/api/tasks?status=completed", tok, "")
	if r.Status != http.StatusOK || len(r.json(t)["tasks"].([]any)) != 1 || r.json(t)["next_cursor"] != nil {
		t.Fatalf("list completed: %d %s", r.Status, r.Body)
	}
	r = c.do("POST", "/api/tasks/"+itoa(id)+"/reopen", tok, "")
	if r.Status != http.StatusOK || r.json(t)["completed"] != false {
		t.Fatalf("reopen: %d %s", r.Status, r.Body)
	}
	if r = c.do("DELETE", "/api/tasks/"+itoa(id), tok, ""); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r = c.do("GET", "/api/tasks/"+itoa(id), tok, ""); r.Status != http.StatusNotFound || r.errorCode() != "not_found" {
		t.Fatalf("get deleted: %d %s", r.Status, r.Body)
	}
}

func TestListPaging(t *testing.T) {
	c := newServer(t)
	tok := token(t, "alice")
	for i := range 5 {
		if r := c.do("POST", "/api/tasks", tok, `{"title":"t`+itoa(int64(i))+`"}`); r.Status != http.StatusCreated {
			t.Fatal(r.Status)
		}
	}
	seen := map[string]bool{}
	path := "/api/tasks?limit=2&sort=title&order=desc"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		r := c.do("GET", path, tok, "")
		if r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		body := r.json(t)
		for _, tk := range body["tasks"].([]any) {
			title := tk.(map[string]any)["title"].(string)
			if seen[title] {
				t.Errorf("%s seen twice", title)
			}
			seen[title] = true
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		path = "/api/tasks?limit=2&sort=title&order=desc&cursor=" + next
	}
	if len(seen) != 5 {
		t.Errorf("saw %d tasks over the pages, want 5", len(seen))
	}
	// A cursor is bound to its sort order.
	r := c.do("GET", "/api/tasks?limit=2&sort=title&order=desc", tok, "")
	next := r.json(t)["next_cursor"].(string)
	if r := c.do("GET", "/api/tasks?sort=created_at&cursor="+next, tok, ""); r.Status != http.StatusBadRequest || r.errorCode() != "invalid_cursor" {
		t.Errorf("cursor reused with another sort: %d %s", r.Status, r.Body)
	}
}

func TestBadInputGetsJSON4xx(t *testing.T) {
	c := newServer(t)
	tok := token(t, "alice")
	r := c.do("POST", "/api/tasks", tok, `{"title":"existing"}`)
	id := itoa(int64(r.json(t)["id"].(float64)))
	big := `{"title":"x","description":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`

	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"not json", "POST", "/api/tasks", `{"title":`, nil, 400, "invalid_json"},
		{"array body", "POST", "/api/tasks", `[{"title":"x"}]`, nil, 400, "invalid_json"},
		{"two objects", "POST", "/api/tasks", `{"title":"x"}{"title":"y"}`, nil, 400, "invalid_json"},
		{"empty body", "POST", "/api/tasks", ``, nil, 400, "invalid_json"},
		{"unknown field", "POST", "/api/tasks", `{"title":"x","colour":"red"}`, nil, 400, "unknown_field"},
		{"read-only field", "POST", "/api/tasks", `{"title":"x","id":5}`, nil, 400, "unknown_field"},
		{"completed via patch", "PATCH", "/api/tasks/" + id, `{"completed":true}`, nil, 400, "unknown_field"},
		{"missing title", "POST", "/api/tasks", `{"description":"x"}`, nil, 400, "invalid_field"},
		{"empty title", "POST", "/api/tasks", `{"title":"   "}`, nil, 400, "invalid_field"},
		{"null title", "PATCH", "/api/tasks/" + id, `{"title":null}`, nil, 400, "invalid_field"},
		{"title too long", "POST", "/api/tasks", `{"title":"` + strings.Repeat("x", 201) + `"}`, nil, 400, "invalid_field"},
		{"title not a string", "POST", "/api/tasks", `{"title":42}`, nil, 400, "invalid_field"},
		{"bad time", "POST", "/api/tasks", `{"title":"x","due_at":"tomorrow"}`, nil, 400, "invalid_field"},
		{"time without zone", "POST", "/api/tasks", `{"title":"x","due_at":"2026-01-01T10:00:00"}`, nil, 400, "invalid_field"},
		{"time as number", "POST", "/api/tasks", `{"title":"x","reminder_at":1700000000}`, nil, 400, "invalid_field"},
		{"bad priority", "POST", "/api/tasks", `{"title":"x","priority":"urgent"}`, nil, 400, "invalid_field"},
		{"bad recurrence", "POST", "/api/tasks", `{"title":"x","recurrence":"hourly"}`, nil, 400, "invalid_field"},
		{"bad timezone", "POST", "/api/tasks", `{"title":"x","timezone":"Moon/Base"}`, nil, 400, "invalid_field"},
		{"tags not strings", "POST", "/api/tasks", `{"title":"x","tags":[1,2]}`, nil, 400, "invalid_field"},
		{"too many tags", "POST", "/api/tasks", `{"title":"x","tags":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19","20","21"]}`, nil, 400, "invalid_field"},
		{"body over 64 KiB", "POST", "/api/tasks", big, nil, 413, "body_too_large"},
		{"form body", "POST", "/api/tasks", `title=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"id not a number", "GET", "/api/tasks/abc", "", nil, 400, "invalid_id"},
		{"id negative", "PATCH", "/api/tasks/-1", `{"title":"x"}`, nil, 400, "invalid_id"},
		{"id overflow", "DELETE", "/api/tasks/99999999999999999999", "", nil, 400, "invalid_id"},
		{"unknown task", "GET", "/api/tasks/999999", "", nil, 404, "not_found"},
		{"limit zero", "GET", "/api/tasks?limit=0", "", nil, 400, "invalid_query"},
		{"limit too big", "GET", "/api/tasks?limit=101", "", nil, 400, "invalid_query"},
		{"limit not a number", "GET", "/api/tasks?limit=ten", "", nil, 400, "invalid_query"},
		{"bad status", "GET", "/api/tasks?status=done", "", nil, 400, "invalid_query"},
		{"bad sort", "GET", "/api/tasks?sort=id", "", nil, 400, "invalid_query"},
		{"bad order", "GET", "/api/tasks?order=up", "", nil, 400, "invalid_query"},
		{"bad due_before", "GET", "/api/tasks?due_before=monday", "", nil, 400, "invalid_query"},
		{"bad priority filter", "GET", "/api/tasks?priority=top", "", nil, 400, "invalid_query"},
		{"unknown parameter", "GET", "/api/tasks?colour=red", "", nil, 400, "invalid_query"},
		{"repeated parameter", "GET", "/api/tasks?status=open&status=all", "", nil, 400, "invalid_query"},
		{"bad cursor", "GET", "/api/tasks?cursor=garbage", "", nil, 400, "invalid_cursor"},
		{"forged cursor", "GET", "/api/tasks?cursor=eyJzIjoiY3JlYXRlZF9hdCIsInYiOiInOyBEUk9QIFRBQkxFIHRhc2tzOy0tIiwiaSI6MX0", "", nil, 400, "invalid_cursor"},
		{"wrong method", "PUT", "/api/tasks/" + id, `{"title":"x"}`, nil, 405, "method_not_allowed"},
		{"unknown route", "GET", "/api/nothing", "", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(tt.method, tt.path, tok, tt.body, tt.headers...)
			if r.Status != tt.status || r.errorCode() != tt.code {
				t.Errorf("got %d %s, want %d %s (body %.200s)", r.Status, r.errorCode(), tt.status, tt.code, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
	// Nothing above changed the task.
	if r := c.do("GET", "/api/tasks/"+id, tok, ""); r.json(t)["title"] != "existing" {
		t.Errorf("task changed by bad requests: %s", r.Body)
	}
}

func TestBadTokensGet401(t *testing.T) {
	c := newServer(t)
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iss": jwtCfg.Issuer, "aud": jwtCfg.Audience}
		mod(m)
		return m
	}
	sign := func(m jwt.MapClaims, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(jwt.MapClaims) {})).SignedString(jwt.UnsafeAllowNoneSignatureType)
	tests := map[string]string{
		"no header":       "",
		"not bearer":      "Basic YWxpY2U6cGFzcw==",
		"bearer no token": "Bearer ",
		"garbage":         "Bearer abc.def.ghi",
		"alg none":        "Bearer " + none,
		"wrong signature": "Bearer " + sign(claims(func(jwt.MapClaims) {}), []byte("wrong-secret-wrong-secret-wrong-secret")),
		"expired":         "Bearer " + sign(claims(func(m jwt.MapClaims) { m["exp"] = now.Add(-time.Hour).Unix() }), jwtCfg.Secret),
		"no exp":          "Bearer " + sign(claims(func(m jwt.MapClaims) { delete(m, "exp") }), jwtCfg.Secret),
		"not yet valid":   "Bearer " + sign(claims(func(m jwt.MapClaims) { m["nbf"] = now.Add(time.Hour).Unix() }), jwtCfg.Secret),
		"wrong issuer":    "Bearer " + sign(claims(func(m jwt.MapClaims) { m["iss"] = "someone-else" }), jwtCfg.Secret),
		"wrong audience":  "Bearer " + sign(claims(func(m jwt.MapClaims) { m["aud"] = "another-api" }), jwtCfg.Secret),
		"missing sub":     "Bearer " + sign(claims(func(m jwt.MapClaims) { delete(m, "sub") }), jwtCfg.Secret),
	}
	routes := [][2]string{{"GET", "/api/tasks"}, {"POST", "/api/tasks"}, {"GET", "/api/tasks/1"}, {"PATCH", "/api/tasks/1"},
		{"DELETE", "/api/tasks/1"}, {"POST", "/api/tasks/1/complete"}, {"POST", "/api/tasks/1/reopen"}}
	for name, header := range tests {
		t.Run(name, func(t *testing.T) {
			for _, rt := range routes {
				body := ""
				if rt[0] == "POST" || rt[0] == "PATCH" {
					body = `{"title":"x"}`
				}
				r := c.do(rt[0], rt[1], "", body, "Authorization", header)
				if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
					t.Errorf("%s %s: %d %s", rt[0], rt[1], r.Status, r.Body)
				}
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: no WWW-Authenticate header", rt[0], rt[1])
				}
			}
		})
	}
	// And the good token works, so the table above fails for the right reason.
	if r := c.do("GET", "/api/tasks", token(t, "alice"), ""); r.Status != http.StatusOK {
		t.Fatalf("valid token: %d %s", r.Status, r.Body)
	}
}

func TestUsersCannotSeeEachOthersTasks(t *testing.T) {
	c := newServer(t)
	alice, bob := token(t, "alice"), token(t, "bob")
	r := c.do("POST", "/api/tasks", alice, `{"title":"alice's secret"}`)
	id := itoa(int64(r.json(t)["id"].(float64)))

	for _, rt := range [][3]string{
		{"GET", "/api/tasks/" + id, ""},
		{"PATCH", "/api/tasks/" + id, `{"title":"bob was here"}`},
		{"POST", "/api/tasks/" + id + "/complete", ""},
		{"POST", "/api/tasks/" + id + "/reopen", ""},
		{"DELETE", "/api/tasks/" + id, ""},
	} {
		r := c.do(rt[0], rt[1], bob, rt[2])
		if r.Status != http.StatusNotFound || r.errorCode() != "not_found" {
			t.Errorf("bob %s %s: %d %s, want 404 not_found", rt[0], rt[1], r.Status, r.Body)
		}
	}
	if r := c.do("GET", "/api/tasks", bob, ""); len(r.json(t)["tasks"].([]any)) != 0 {
		t.Errorf("bob's list shows alice's task: %s", r.Body)
	}
	r = c.do("GET", "/api/tasks/"+id, alice, "")
	if r.Status != http.StatusOK || r.json(t)["title"] != "alice's secret" || r.json(t)["completed"] != false {
		t.Errorf("alice's task was changed: %d %s", r.Status, r.Body)
	}
}

func TestProbes(t *testing.T) {
	c := newServer(t)
	for _, base := range []string{c.url, c.app} {
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := (&client{t: t, url: base}).do("GET", p, "", ""); r.Status != http.StatusOK {
				t.Errorf("%s%s: %d %s", base, p, r.Status, r.Body)
			}
		}
	}
}

// Each port serves its own audience's routes only: the internal routes are
// not on the public port, whatever token comes with them, and the public
// API is not on the app port.
func TestEachPortServesItsOwnRoutes(t *testing.T) {
	c := newServer(t)
	public, app := &client{t: t, url: c.url}, &client{t: t, url: c.app}
	for _, tt := range []struct {
		c            *client
		method, path string
	}{
		{public, "POST", "/internal/tasks/1/next-occurrence"},
		{public, "GET", "/internal/reminders/due"},
		{public, "POST", "/internal/reminders/sent"},
		{public, "GET", "/dapr/subscribe"},
		{public, "GET", "/dapr/config"},
		{app, "GET", "/api/tasks"},
		{app, "POST", "/api/tasks"},
		{app, "GET", "/api/openapi.json"},
	} {
		if r := tt.c.do(tt.method, tt.path, token(t, "alice"), `{}`); r.Status != http.StatusNotFound || r.errorCode() != "not_found" {
			t.Errorf("%s %s%s: %d %s, want 404 not_found", tt.method, tt.c.url, tt.path, r.Status, r.Body)
		}
	}
	if r := app.do("GET", "/dapr/subscribe", "", ""); r.Status != http.StatusOK {
		t.Errorf("GET /dapr/subscribe on the app port: %d %s", r.Status, r.Body)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

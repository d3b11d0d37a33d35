package hostile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/store"
)

const appToken = "hostile-app-token"

var jwtCfg = auth.Config{Secret: []byte("hostile-test-secret-hostile-test-secret"), Issuer: "todo-tests", Audience: "todo-api"}

// fataler is what testing.TB and *rapid.T share.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// stubInvoker stands in for the sidecar on the routes that relay to other
// apps (history, notifications); those are tested through real daprd in
// internal/e2e.
type stubInvoker struct{}

func (stubInvoker) Invoke(context.Context, string, string, string, url.Values, any) (dapr.Response, error) {
	return dapr.Response{Status: http.StatusOK, Body: []byte(`{"items":[]}`)}, nil
}

// target is a running todo-api and what the generator knows about it.
type target struct {
	base            string // the public port
	app             string // the app port, which only the sidecar reaches
	client          *http.Client
	alice, bob      string // valid tokens
	expired, forged string
	aliceTask       int64
	bobTask         int64
	carol           string // a token the generator never uses
	carolTask       int64
	carolBody       string // carol's task as first answered
	routes          []api.Route
	sent            atomic.Int64 // requests made
}

// start serves todo-api's handler the way todo-api serve does (service.Serve:
// trace and metrics middleware, httpx.Serve's http.Server) on a free port,
// against a fresh, migrated database.
func start(t testing.TB) *target {
	t.Helper()
	pool := pgtest.NewPool(t)
	st := store.New(pool)
	v, err := auth.NewVerifier(jwtCfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := api.New(st, v, stubInvoker{}, log, api.Config{
		AppToken: appToken, AuditAppID: "audit-service", NotifierAppID: "notification-service",
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	appAddr := freeAddr(t)
	done := make(chan error, 1)
	tm := telemetry.NewMetrics("todo-api")
	go func() {
		done <- service.Serve(ctx, log, service.Common{AppAddr: appAddr, MetricsAddr: "off"}, addr, tm,
			service.Handlers{Public: tm.Instrument(srv.PublicHandler()), App: tm.Instrument(srv.AppHandler())})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	tg := &target{base: "http://" + addr, app: "http://" + appAddr, client: &http.Client{Timeout: 30 * time.Second}, routes: srv.Routes()}
	for i := 0; ; i++ {
		resp, err := tg.client.Get(tg.base + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if i > 200 {
			t.Fatalf("server did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	now := time.Now()
	mint := func(user string, ttl time.Duration, cfg auth.Config) string {
		tok, err := auth.Mint(cfg, user, ttl, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tg.alice, tg.bob = mint("alice", 24*time.Hour, jwtCfg), mint("bob", 24*time.Hour, jwtCfg)
	tg.expired = mint("alice", -time.Hour, jwtCfg)
	other := jwtCfg
	other.Secret = []byte("another-secret-another-secret-another!!")
	tg.forged = mint("alice", time.Hour, other)
	create := func(tok, body string) (int64, string) {
		st, b := tg.send(t, "POST", "/api/tasks", "", []byte(body), "application/json", "Bearer "+tok)
		if st != http.StatusCreated {
			t.Fatalf("seed: %d %s", st, b)
		}
		var v struct{ ID int64 }
		_ = json.Unmarshal(b, &v)
		return v.ID, string(b)
	}
	tg.aliceTask, _ = create(tg.alice, `{"title":"seed","due_at":"2026-01-01T00:00:00Z","recurrence":"daily"}`)
	tg.bobTask, _ = create(tg.bob, `{"title":"bob's","tags":["private"]}`)
	tg.carol = mint("carol", 24*time.Hour, jwtCfg)
	tg.carolTask, tg.carolBody = create(tg.carol, `{"title":"carol's","tags":["private"],"due_at":"2026-06-01T00:00:00Z"}`)
	return tg
}

// send makes one request; the path is written to the request line as it is
// (already escaped, or not).
func (tg *target) send(t fataler, method, rawPath, rawQuery string, body []byte, contentType, token string, headers ...string) (int, []byte) {
	t.Helper()
	st, _, b, err := tg.do(method, rawPath, rawQuery, body, contentType, token, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawPath, err)
	}
	return st, b
}

func (tg *target) do(method, rawPath, rawQuery string, body []byte, contentType, token string, headers ...string) (int, http.Header, []byte, error) {
	return tg.doAt(tg.base, method, rawPath, rawQuery, body, contentType, token, headers...)
}

func (tg *target) doAt(base, method, rawPath, rawQuery string, body []byte, contentType, token string, headers ...string) (int, http.Header, []byte, error) {
	u, _ := url.Parse(base)
	u.Opaque = rawPath
	u.RawQuery = rawQuery
	req, err := http.NewRequest(method, base, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.URL = u
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	tg.sent.Add(1)
	resp, err := tg.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// Pieces the generator combines.
var (
	methods     = []string{"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "TRACE", "CONNECT", "FOO", "get"}
	hostileText = []string{"\u0000", "\xff", "a\u0000b", "\xc3", "\xed\xa0\x80", "", "x", " ", "\xef\xbf\xbe", "\ufeff",
		"☕🫖", "\u202e", "%00", "%ff", "..", "../", "..\\", "%2e%2e%2f", ";", "?", "#", "&", "=", "+", "'; DROP TABLE tasks;--",
		"\\u0000", "\r\n", "\t", strings.Repeat("a", 201), strings.Repeat("é", 200), strings.Repeat("x", 5000), "null", "{}"}
	hostileTimes = []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+01:00", "2026-01-31T09:00:00+01:00",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00+00:01", "2026-02-30T00:00:00Z",
		"2026-03-29T02:30:00+01:00", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00", "2026-01-01", "infinity", "-infinity", "epoch", "1700000000", "+002026-01-01T00:00:00Z",
		"2026-01-01t00:00:00z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00.0000000000000001Z"}
	hostileNumbers = []string{"0", "-0", "1", "-1", "1.5", "1e3", "1e999", "-1e999", "9223372036854775807",
		"9223372036854775808", "-9223372036854775809", "18446744073709551616", "0x10", "1_000", "NaN", "Infinity", "01", "1E+2"}
	zones = []string{"posixrules", "Factory", "right/UTC", "UTC", "Europe/Berlin", "US/Eastern", "Asia/Calcutta",
		"posix/Europe/Berlin", "localtime", "Local", "", "utc", "../../etc/passwd", "/etc/localtime", "Etc/GMT+13",
		"America/Santiago", "Europe/Berlin\u0000", strings.Repeat("A/", 40)}
	fields     = []string{"title", "description", "priority", "tags", "due_at", "reminder_at", "recurrence", "timezone"}
	extraKeys  = []string{"id", "user_id", "completed", "version", "__proto__", "", "Title", "title ", "\u0000", "\xff", "recurrence_anchor", "reminders"}
	enumValues = []string{"none", "low", "medium", "high", "daily", "weekly", "monthly", "yearly", "hourly", "HIGH", ""}
	listParams = []string{"status", "priority", "tag", "q", "due_before", "due_after", "sort", "order", "limit", "cursor",
		"before", "after_at", "after_id", "colour", "", "%zz", "a;b"}
	contentTypes = []string{"application/json", "application/json; charset=utf-8", "application/merge-patch+json",
		"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "multipart/form-data; boundary=x",
		"application/json;;", "garbage", ""}
)

// jsonString quotes s the way a client would, keeping raw invalid bytes as
// they are (encoding/json would replace them).
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func genValue(t *rapid.T, depth int) string {
	kinds := 9
	if depth > 3 {
		kinds = 6
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, "kind") {
	case 0:
		return jsonString(rapid.SampledFrom(hostileText).Draw(t, "text"))
	case 1:
		return jsonString(rapid.SampledFrom(hostileTimes).Draw(t, "time"))
	case 2:
		return rapid.SampledFrom(hostileNumbers).Draw(t, "number")
	case 3:
		return rapid.SampledFrom([]string{"null", "true", "false", `""`, "[]", "{}"}).Draw(t, "literal")
	case 4:
		return jsonString(rapid.SampledFrom(append(enumValues, zones...)).Draw(t, "enum"))
	case 5:
		return jsonString(rapid.String().Draw(t, "anystring"))
	case 6:
		n := rapid.IntRange(0, 4).Draw(t, "len")
		parts := make([]string, n)
		for i := range parts {
			parts[i] = genValue(t, depth+1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case 7:
		return genObject(t, depth+1)
	default:
		d := rapid.IntRange(1, 100).Draw(t, "nest")
		return strings.Repeat("[", d) + strings.Repeat("]", d)
	}
}

func genObject(t *rapid.T, depth int) string {
	n := rapid.IntRange(0, 6).Draw(t, "members")
	parts := make([]string, 0, n)
	for range n {
		var key string
		if rapid.IntRange(0, 4).Draw(t, "keykind") == 0 {
			key = rapid.SampledFrom(extraKeys).Draw(t, "extrakey")
		} else {
			key = rapid.SampledFrom(fields).Draw(t, "key")
		}
		parts = append(parts, jsonString(key)+":"+genValue(t, depth))
	}
	if n > 0 && rapid.IntRange(0, 5).Draw(t, "dup") == 0 { // a duplicate key
		parts = append(parts, parts[rapid.IntRange(0, n-1).Draw(t, "dupof")])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func genBody(t *rapid.T) []byte {
	switch rapid.IntRange(0, 9).Draw(t, "bodykind") {
	case 0:
		return nil
	case 1:
		return rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "rawbody")
	case 2:
		return []byte(genValue(t, 0))
	case 3: // over the 64 KiB bound
		return []byte(`{"title":"x","description":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`)
	case 4: // a valid body with one hostile field
		field := rapid.SampledFrom(fields).Draw(t, "field")
		return []byte(`{"title":"ok",` + jsonString(field) + ":" + genValue(t, 1) + "}")
	case 5: // a syntactically broken object
		obj := genObject(t, 0)
		return []byte(obj[:rapid.IntRange(0, len(obj)-1).Draw(t, "cut")])
	case 6:
		return []byte(`{"reminders":` + genValue(t, 1) + `}`)
	default:
		return []byte(genObject(t, 0))
	}
}

func (tg *target) genPathValue(t *rapid.T) string {
	return rapid.OneOf(
		rapid.Just(strconv.FormatInt(tg.aliceTask, 10)),
		rapid.Just(strconv.FormatInt(tg.bobTask, 10)),
		rapid.Just(strconv.FormatInt(tg.carolTask, 10)),
		rapid.Map(rapid.SampledFrom(hostileNumbers), url.PathEscape),
		rapid.SampledFrom([]string{"..%2F", "%2E%2E%2F", "%252e%252e%252f", "..%5Cbob", "a%3Bb", "a%3Fb", "%00", "%ff",
			"%zz", "%", "%2", "a b", "..", ".", "%2F", strings.Repeat("9", 100), "1%00", "+1", "1/2", "~bob", "inbox"}),
		rapid.Map(rapid.SampledFrom(hostileText), url.PathEscape),
		rapid.Map(rapid.String(), url.PathEscape),
	).Draw(t, "pathvalue")
}

func (tg *target) genPath(t *rapid.T) string {
	routes := make([]string, 0, len(tg.routes)+4)
	for _, r := range tg.routes {
		routes = append(routes, r.Path)
	}
	routes = append(routes, "/api/tasks/", "/api", "/api/tasks/{id}/x", "/API/TASKS", "//api/tasks", "/api/tasks/{id}/../{id}")
	p := rapid.SampledFrom(routes).Draw(t, "route")
	for strings.Contains(p, "{id}") {
		p = strings.Replace(p, "{id}", tg.genPathValue(t), 1)
	}
	return p
}

func cursorOf(js string) string { return base64.RawURLEncoding.EncodeToString([]byte(js)) }

func genQuery(t *rapid.T) string {
	if rapid.IntRange(0, 9).Draw(t, "rawquery") == 0 {
		return rapid.StringMatching(`[a-z%0-9=&;+_.~-]{0,40}`).Draw(t, "query")
	}
	n := rapid.IntRange(0, 4).Draw(t, "params")
	parts := make([]string, 0, n)
	for range n {
		name := rapid.SampledFrom(listParams).Draw(t, "param")
		var v string
		switch rapid.IntRange(0, 6).Draw(t, "valuekind") {
		case 0:
			v = url.QueryEscape(rapid.SampledFrom(hostileText).Draw(t, "text"))
		case 1:
			v = url.QueryEscape(rapid.SampledFrom(hostileTimes).Draw(t, "time"))
		case 2:
			v = url.QueryEscape(rapid.SampledFrom(hostileNumbers).Draw(t, "number"))
		case 3:
			v = url.QueryEscape(rapid.SampledFrom(enumValues).Draw(t, "enum"))
		case 4: // a cursor: valid shape, hostile content
			sort := rapid.SampledFrom([]string{"created_at", "due_at", "priority", "title", "id"}).Draw(t, "sort")
			val := rapid.SampledFrom(append(append([]string{}, hostileTimes...), hostileText...)).Draw(t, "cursorvalue")
			id := rapid.SampledFrom(hostileNumbers).Draw(t, "cursorid")
			js := `{"s":` + jsonString(sort) + `,"v":` + jsonString(val) + `,"i":` + id + `}`
			v = cursorOf(js)
			if !strings.Contains(name, "cursor") {
				parts = append(parts, "sort="+sort)
				name = "cursor"
			}
		case 5:
			v = rapid.SampledFrom([]string{"%zz", "%00", "%ff", "%", "%0", "a;b", "%2B", "+", "%E2%82", "%C0%AF"}).Draw(t, "rawvalue")
		default:
			v = url.QueryEscape(rapid.String().Draw(t, "anyvalue"))
		}
		parts = append(parts, name+"="+v)
	}
	return strings.Join(parts, "&")
}

func (tg *target) genAuth(t *rapid.T) string {
	return rapid.SampledFrom([]string{"Bearer " + tg.alice, "Bearer " + tg.alice, "Bearer " + tg.alice, "Bearer " + tg.bob,
		"", "Bearer " + tg.expired, "Bearer " + tg.forged, "Bearer", "Bearer ", "Basic YWxpY2U6eA==", "bearer " + tg.alice,
		"Bearer " + tg.alice + "x", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "Bearer a.b.c"}).Draw(t, "auth")
}

// genPlausible draws a request that gets past routing and auth: a route of
// the table with its own method, alice's token, a JSON body, and the
// hostile part in the path value, the query or one body field.
func (tg *target) genPlausible(t *rapid.T) (method, path, query string, body []byte, ct, authz string) {
	var routes []api.Route
	for _, r := range tg.routes {
		if !r.Internal {
			routes = append(routes, r)
		}
	}
	rt := rapid.SampledFrom(routes).Draw(t, "route")
	path = rt.Path
	for strings.Contains(path, "{id}") {
		id := strconv.FormatInt(tg.aliceTask, 10)
		if rapid.IntRange(0, 3).Draw(t, "ownid") == 0 {
			id = tg.genPathValue(t)
		}
		path = strings.Replace(path, "{id}", id, 1)
	}
	if rt.Method == http.MethodGet {
		query = genQuery(t)
	}
	if rt.Method == http.MethodPost || rt.Method == http.MethodPatch {
		body = genBody(t)
		if rapid.IntRange(0, 2).Draw(t, "onefield") > 0 {
			field := rapid.SampledFrom(fields).Draw(t, "field")
			body = []byte(`{"title":"ok",` + jsonString(field) + ":" + genValue(t, 1) + "}")
			if field == "title" && rapid.Bool().Draw(t, "titleonly") {
				body = []byte(`{"title":` + genValue(t, 1) + "}")
			}
		}
	}
	return rt.Method, path, query, body, "application/json", "Bearer " + tg.alice
}

// check sends one generated request and asserts the answer's shape.
func (tg *target) check(t *rapid.T) {
	var method, path, query, ct, authz string
	var body []byte
	if rapid.IntRange(0, 9).Draw(t, "plausible") < 7 {
		method, path, query, body, ct, authz = tg.genPlausible(t)
	} else {
		method = rapid.SampledFrom(methods).Draw(t, "method")
		path = tg.genPath(t)
		query = genQuery(t)
		body = genBody(t)
		ct = rapid.SampledFrom(contentTypes).Draw(t, "contenttype")
		authz = tg.genAuth(t)
	}
	var headers []string
	base := tg.base
	if strings.HasPrefix(path, "/internal/") || strings.HasPrefix(path, "/dapr/") {
		if rapid.Bool().Draw(t, "apptoken") {
			headers = append(headers, "dapr-api-token", appToken)
		}
		// The sidecar's routes are on the app port; the public port must
		// answer them with a 404 whatever comes with them.
		if rapid.Bool().Draw(t, "appport") {
			base = tg.app
		}
	}
	status, hdr, b, err := tg.doAt(base, method, path, query, body, ct, authz, headers...)
	_, perr := url.PathUnescape(path)
	// net/http itself refuses a malformed request line before any handler
	// runs (a plain-text 400, and the connection closed, which may reset
	// it while a large body is still being sent).
	badLine := perr != nil || method == "CONNECT" || strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == 0x7f })
	if err != nil && !badLine {
		t.Fatalf("%s %s?%s: %v", method, path, query, err)
	}
	where := fmt.Sprintf("%s %s%s?%s body %.300q", method, base, path, query, body)
	if status >= 500 {
		t.Fatalf("%s: answered %d %s", where, status, b)
	}
	if base == tg.base && (strings.HasPrefix(path, "/internal/") || strings.HasPrefix(path, "/dapr/")) && status < 400 && !badLine {
		t.Fatalf("%s: a sidecar route answered %d on the public port: %s", where, status, b)
	}
	if badLine {
		if err == nil && status < 400 {
			t.Fatalf("%s: malformed request line answered %d", where, status)
		}
		return
	}
	if method == "HEAD" {
		return
	}
	if status >= 400 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: %d with Content-Type %q: %s", where, status, ct, b)
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s: %d without the JSON error body: %s", where, status, b)
		}
		return
	}
	if status != http.StatusNoContent && !strings.HasSuffix(path, ".yaml") && !json.Valid(b) {
		t.Fatalf("%s: %d with a body that is not JSON: %.300s", where, status, b)
	}
}

// healthy checks that the server still serves: ready, alice's seed task
// readable (or deleted by alice), and carol's task, whose id is generated
// but whose token never is, exactly as it was created.
func (tg *target) healthy(t fataler) {
	t.Helper()
	if st, b := tg.send(t, "GET", "/readyz", "", nil, "", ""); st != http.StatusOK {
		t.Fatalf("/readyz: %d %s", st, b)
	}
	if st, b := tg.send(t, "GET", "/api/tasks/"+strconv.FormatInt(tg.aliceTask, 10), "", nil, "", "Bearer "+tg.alice); st != http.StatusOK && st != http.StatusNotFound {
		t.Fatalf("alice's task: %d %s", st, b)
	}
	st, b := tg.send(t, "GET", "/api/tasks/"+strconv.FormatInt(tg.carolTask, 10), "", nil, "", "Bearer "+tg.carol)
	if st != http.StatusOK {
		t.Fatalf("carol's task: %d %s", st, b)
	}
	var got, want map[string]any
	_ = json.Unmarshal(b, &got)
	_ = json.Unmarshal([]byte(tg.carolBody), &want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("carol's task changed by other users' requests:\n got %s\nwant %s", b, tg.carolBody)
	}
}

func (tg *target) property(t *rapid.T) {
	for range rapid.IntRange(1, 6).Draw(t, "requests") {
		tg.check(t)
	}
	tg.healthy(t)
}

// finalCheck: after everything, a normal create, get, list and delete work.
func (tg *target) finalCheck(t testing.TB) {
	t.Helper()
	tg.healthy(t)
	st, b := tg.send(t, "POST", "/api/tasks", "", []byte(`{"title":"after the storm","tags":["ok"]}`), "application/json", "Bearer "+tg.alice)
	if st != http.StatusCreated {
		t.Fatalf("create after hostile input: %d %s", st, b)
	}
	var v struct {
		ID    int64
		Title string
	}
	_ = json.Unmarshal(b, &v)
	id := strconv.FormatInt(v.ID, 10)
	if st, b = tg.send(t, "GET", "/api/tasks/"+id, "", nil, "", "Bearer "+tg.alice); st != http.StatusOK || !strings.Contains(string(b), `"after the storm"`) {
		t.Fatalf("get after hostile input: %d %s", st, b)
	}
	if st, b = tg.send(t, "GET", "/api/tasks", "tag=ok", nil, "", "Bearer "+tg.alice); st != http.StatusOK || !strings.Contains(string(b), `"after the storm"`) {
		t.Fatalf("list after hostile input: %d %s", st, b)
	}
	if st, b = tg.send(t, "DELETE", "/api/tasks/"+id, "", nil, "", "Bearer "+tg.alice); st != http.StatusNoContent {
		t.Fatalf("delete after hostile input: %d %s", st, b)
	}
}

// ciChecks is the number of cases TestHostile runs unless -rapid.checks
// says otherwise: a few seconds here, and enough to find each of the 5xx
// this test was written for on most runs.
const ciChecks = "400"

// TestHostile is the CI-size run: ciChecks cases of 1-6 requests each.
func TestHostile(t *testing.T) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if f := flag.Lookup("rapid.checks"); f != nil && !explicit {
		if err := f.Value.Set(ciChecks); err != nil {
			t.Fatal(err)
		}
	}
	tg := start(t)
	rapid.Check(t, tg.property)
	tg.finalCheck(t)
	t.Logf("%d requests sent", tg.sent.Load())
}

// FuzzHostile is the long run: go test ./internal/hostile -run '^$'
// -fuzz FuzzHostile -fuzztime 10m (make fuzz). Each fuzzing worker has its
// own server and database. The fuzzer's bytes drive rapid's draws; an input
// too short for a whole case is extended with bytes derived from it, so
// that every execution is one complete case rather than a skip.
func FuzzHostile(f *testing.F) {
	tg := start(f)
	f.Cleanup(func() {
		tg.finalCheck(f)
		f.Logf("%d requests sent by this process", tg.sent.Load())
	})
	prop := rapid.MakeFuzz(tg.property)
	f.Add([]byte{})
	f.Add([]byte("POST /api/tasks {\"title\":\"\u0000\"}"))
	f.Fuzz(func(t *testing.T, in []byte) { prop(t, extend(in)) })
}

// extend returns in followed by pseudo-random bytes seeded from in, 8 KiB
// in all: more than any case draws.
func extend(in []byte) []byte {
	const size = 8 << 10
	if len(in) >= size {
		return in
	}
	sum := sha256.Sum256(in)
	rng := rand.New(rand.NewChaCha8(sum))
	out := make([]byte, size)
	copy(out, in)
	for i := len(in); i < size; i++ {
		out[i] = byte(rng.Uint32())
	}
	return out
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

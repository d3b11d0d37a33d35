// Package e2e holds the end-to-end tests: the real daprd (built from source
// at the pinned version), the dev broker and PostgreSQL, each service a
// separate process, started the way `make run` starts them.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/client/clienttest"
	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/api"
)

var (
	repoRoot string
	binDir   string
	daprd    string
	setupErr error

	// openAPI checks every call of every test's client against todo-api's
	// OpenAPI description: a request and answer that do not match fail the
	// call.
	openAPI *clienttest.Validator
)

func TestMain(m *testing.M) {
	code := func() int {
		var err error
		if openAPI, err = clienttest.NewValidator(api.OpenAPIYAML); err != nil {
			setupErr = err
			return m.Run()
		}
		defer reportCoverage()
		if repoRoot, err = devstack.RepoRoot(); err != nil {
			setupErr = err
			return m.Run()
		}
		tmp, err := os.MkdirTemp("", "todo-e2e-bin-")
		if err != nil {
			setupErr = err
			return m.Run()
		}
		defer os.RemoveAll(tmp)
		binDir = tmp
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := devstack.BuildBinaries(ctx, repoRoot, binDir, devstack.Binaries...); err != nil {
			setupErr = err
		}
		return m.Run()
	}()
	os.Exit(code)
}

// reportCoverage says, with -v, which documented answers of the public API
// the tests that ran got and checked.
func reportCoverage() {
	if !testing.Verbose() {
		return
	}
	seen, missing := openAPI.Seen(), openAPI.Missing()
	fmt.Printf("openapi: %d exchanges checked; %d of %d documented answers seen\n",
		sum(seen), len(openAPI.Documented())-len(missing), len(openAPI.Documented()))
	for _, o := range missing {
		fmt.Printf("openapi: not seen: %s\n", o)
	}
}

func sum(m map[clienttest.Outcome]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// needDaprd returns the daprd binary or stops the test: skipped on a
// developer machine without a build, failed in CI (CI=true), where the test
// command builds it first.
func needDaprd(t *testing.T) string {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("e2e setup: %v", setupErr)
	}
	if daprd != "" {
		return daprd
	}
	p, ok := devstack.FindDaprd(repoRoot)
	if !ok {
		msg := fmt.Sprintf("daprd %s is not built (%s); run `make daprd` or `make test`", devstack.DaprVersion, p)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	daprd = p
	return p
}

// logBuffer collects the processes' output and shows it when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

const jwtSecret = "e2e-secret-e2e-secret-e2e-secret-e2e"

// raisedWebLimits lift web-app's per-address limits, which every test's
// requests from 127.0.0.1 would otherwise share: the tests of the limits
// set their own.
var raisedWebLimits = []string{"SIGNIN_RATE_PER_MINUTE=60000", "SIGNIN_BURST=10000",
	"STREAM_OPEN_RATE_PER_MINUTE=60000", "STREAM_OPEN_BURST=10000", "STREAMS_PER_CLIENT=10000"}

type env struct {
	t      *testing.T
	sys    *devstack.System
	log    *logBuffer
	dbURL  string
	token  string
	client *client.Client // todo-api's public API with token, checked by openAPI
}

// startSystem starts the broker and the apps (all when none are named) with
// their sidecars on free ports, with a fresh database.
func startSystem(t *testing.T, apps ...string) *env {
	t.Helper()
	return startSystemWith(t, nil, apps...)
}

// startSystemWith is startSystem with changes to the system's
// configuration (nil: none).
func startSystemWith(t *testing.T, configure func(*devstack.Config), apps ...string) *env {
	t.Helper()
	bin := needDaprd(t)
	logs := &logBuffer{}
	dbURL := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cfg := devstack.Config{
		Root: repoRoot, WorkDir: t.TempDir(), Out: logs, Daprd: bin, BinDir: binDir,
		DatabaseURL: dbURL, JWTSecret: jwtSecret, CronSchedule: "@every 2s", LogFormat: "json", OnlyApps: apps, DevSignIn: true,
		LogLevel:  os.Getenv("E2E_LOG_LEVEL"),           // debug: every token refused, every JWKS fetch (the services' default: info)
		Broker:    devstack.Broker(os.Getenv("BROKER")), // the default, Kafka (the dev broker), when unset
		LockWait:  15 * time.Minute,                     // other test packages run their systems one at a time
		AppEnvFor: map[string][]string{"web-app": slices.Clone(raisedWebLimits)},
	}
	if configure != nil {
		configure(&cfg)
	}
	sys, err := devstack.Up(ctx, cfg)
	t.Cleanup(func() {
		if sys != nil {
			sys.Close()
		}
		if t.Failed() {
			t.Logf("process output:\n%s", tail(logs.String(), 1000))
		}
	})
	if err != nil {
		t.Fatalf("start system: %v", err)
	}
	tok, err := auth.Mint(auth.Config{Secret: []byte(jwtSecret)}, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sys: sys, log: logs, dbURL: dbURL, token: tok}
	e.client = e.clientAt(sys.APIURL())
	return e
}

// clientAt is a client of the todo-api at base with e's token, checked by
// openAPI.
func (e *env) clientAt(base string) *client.Client {
	return client.New(base, e.token, client.WithTransport(openAPI.Transport(nil)))
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ok fails the test when a call of the API failed.
func (e *env) ok(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// refused fails the test unless err is the API's refusal with status and
// its JSON error body.
func (e *env) refused(what string, err error, status int) {
	e.t.Helper()
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code == "" {
		e.t.Fatalf("%s: %v, want a %d with the API's error body", what, err, status)
	}
}

// The calls of the public API the tests make, failing the test on any
// error.

func (e *env) create(nt client.NewTask) client.Task {
	e.t.Helper()
	t, err := e.client.CreateTask(e.t.Context(), nt)
	e.ok("create "+nt.Title, err)
	return t
}

func (e *env) get(id int64) client.Task {
	e.t.Helper()
	t, err := e.client.GetTask(e.t.Context(), id)
	e.ok(fmt.Sprintf("get task %d", id), err)
	return t
}

func (e *env) update(id int64, p client.TaskPatch) client.Task {
	e.t.Helper()
	t, err := e.client.UpdateTask(e.t.Context(), id, p)
	e.ok(fmt.Sprintf("update task %d", id), err)
	return t
}

func (e *env) complete(id int64) client.Task {
	e.t.Helper()
	t, err := e.client.CompleteTask(e.t.Context(), id)
	e.ok(fmt.Sprintf("complete task %d", id), err)
	return t
}

func (e *env) reopen(id int64) client.Task {
	e.t.Helper()
	t, err := e.client.ReopenTask(e.t.Context(), id)
	e.ok(fmt.Sprintf("reopen task %d", id), err)
	return t
}

func (e *env) del(id int64) {
	e.t.Helper()
	e.ok(fmt.Sprintf("delete task %d", id), e.client.DeleteTask(e.t.Context(), id))
}

// history is the first page of task id's history (up to 100 events).
func (e *env) history(id int64) []client.HistoryEntry {
	e.t.Helper()
	h, err := e.client.History(e.t.Context(), id, client.PageQuery{})
	e.ok(fmt.Sprintf("history of task %d", id), err)
	return h.Events
}

// inboxState is the user's whole inbox (its first 100 entries) as the API
// shows it.
func (e *env) inboxState() client.InboxPage {
	e.t.Helper()
	in, err := e.client.Notifications(e.t.Context(), client.PageQuery{Limit: 100})
	e.ok("notifications", err)
	return in
}

func (e *env) inbox() []client.Notification {
	e.t.Helper()
	return e.inboxState().Notifications
}

func (e *env) inboxFor(taskID int64) []client.Notification {
	e.t.Helper()
	var out []client.Notification
	for _, n := range e.inbox() {
		if n.TaskID == taskID {
			out = append(out, n)
		}
	}
	return out
}

// dataOf is the data of a history entry, decoded.
func dataOf(t *testing.T, ev client.HistoryEntry) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event %s: data %s: %v", ev.EventID, ev.Data, err)
	}
	return m
}

// at is the time s, an RFC 3339 literal of a test, in the offset it has.
func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(fmt.Sprintf("at(%q): %v", s, err))
	}
	return &t
}

// delivery is one event as a subscriber app received it from its sidecar.
type delivery struct {
	Topic       string
	At          time.Time
	ContentType string
	Raw         []byte
	Envelope    map[string]any
	Data        map[string]any
}

// viewerAppID is the read-only app id that components/pubsub.yaml lets
// subscribe to every topic (dashboards, tools, these tests).
const viewerAppID = "event-viewer"

// subscriber is a test app with its own daprd sidecar, subscribed through
// the programmatic subscription endpoint, the way a third-party Dapr consumer
// would be.
type subscriber struct {
	mu  sync.Mutex
	got []delivery
}

// startViewer starts the event-viewer app and its sidecar, subscribed to
// topics.
func (e *env) startViewer(topics ...string) *subscriber {
	e.t.Helper()
	return e.startViewerWith(viewerOpts{}, topics...)
}

// viewerOpts change how the viewer answers.
type viewerOpts struct {
	retryIDs        map[string]bool // answer RETRY for these CloudEvent ids
	deadLetterTopic map[string]string
}

func (e *env) startViewerWith(opts viewerOpts, topics ...string) *subscriber {
	e.t.Helper()
	s := &subscriber{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		var subs []map[string]string
		for _, t := range topics {
			sub := map[string]string{"pubsubname": "kafka-pubsub", "topic": t, "route": "/events/" + t}
			if dlq := opts.deadLetterTopic[t]; dlq != "" {
				sub["deadLetterTopic"] = dlq
			}
			subs = append(subs, sub)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(subs)
	})
	mux.HandleFunc("POST /events/{topic}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d := delivery{ContentType: r.Header.Get("Content-Type"), Raw: b, Topic: r.PathValue("topic"), At: time.Now()}
		_ = json.Unmarshal(b, &d.Envelope)
		d.Data, _ = d.Envelope["data"].(map[string]any)
		s.mu.Lock()
		s.got = append(s.got, d)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if id, _ := d.Envelope["id"].(string); opts.retryIDs[id] && d.Topic != opts.deadLetterTopic[d.Topic] {
			_, _ = io.WriteString(w, `{"status":"RETRY"}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"SUCCESS"}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.t.Cleanup(func() { _ = srv.Close() })

	sc, err := devstack.NewSidecar(viewerAppID, ln.Addr().(*net.TCPAddr).Port, e.sys.ComponentsDir)
	if err != nil {
		e.t.Fatal(err)
	}
	sc.ConfigFile = e.sys.DaprConfig()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.sys.StartSidecar(ctx, sc, []string{"DAPR_API_TOKEN=" + e.sys.DaprToken}); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// withID returns the deliveries whose CloudEvent id is id.
func (s *subscriber) withID(id string) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []delivery
	for _, d := range s.got {
		if d.Envelope["id"] == id {
			out = append(out, d)
		}
	}
	return out
}

// forTask returns the deliveries whose data.task_id is id, in arrival order.
func (s *subscriber) forTask(id int64) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []delivery
	for _, d := range s.got {
		if tid, ok := d.Data["task_id"].(float64); ok && int64(tid) == id {
			out = append(out, d)
		}
	}
	return out
}

// inOrder is ds as the test may compare it with a task's changes in order:
// as they arrived on a broker that orders one task's events
// (devstack.Broker.OrdersByKey), else sorted by data.version, what the
// consumers rely on there.
func (e *env) inOrder(ds []delivery) []delivery {
	if e.sys.BrokerKind.OrdersByKey() {
		return ds
	}
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b delivery) int {
		av, _ := a.Data["version"].(float64)
		bv, _ := b.Data["version"].(float64)
		return cmp.Compare(av, bv)
	})
	return out
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

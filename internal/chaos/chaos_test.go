// Package chaos is the fault-injection suite: the whole system as separate
// processes under a steady load through the public API, while every kind of
// process is killed with SIGKILL (PostgreSQL is crashed) and restarted, one
// at a time. When the load stops and the system settles, it checks from the
// outside that nothing was lost and nothing was done twice.
//
//	go test ./internal/chaos -run TestChaos -v                       # CI size
//	CHAOS_CHANGES=20000 go test ./internal/chaos -run TestChaos -v -timeout 60m
//
// `make chaos` runs the full size and writes the report to CHAOS_REPORT.
package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/client/clienttest"
	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/todoapi/api"
)

const jwtSecret = "chaos-secret-chaos-secret-chaos-secret"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// logFile collects every process's output in a file, so a long run does not
// hold it in memory; the tail is shown when the test fails.
type logFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *logFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(b)
}

// fault is one injected failure and how long the system took to recover.
type fault struct {
	Name     string
	Round    int
	At       time.Duration // since the load started
	Recovery time.Duration
	Note     string
}

type harness struct {
	t       *testing.T
	sys     *devstack.System
	pg      *devstack.Postgres
	dbURL   string
	users   []string
	clients map[string]*client.Client // each user's, checked by openAPI
	openAPI *clienttest.Validator
}

func TestChaos(t *testing.T) {
	if devstack.Broker(os.Getenv("BROKER")) == devstack.MQTT {
		t.Skip("mqtt: what is published while an app's sidecar is down never reaches it (components/brokers/mqtt/pubsub.yaml), which every fault here does")
	}
	root, err := devstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	daprd, ok := devstack.FindDaprd(root)
	if !ok {
		if os.Getenv("CI") != "" {
			t.Fatalf("daprd is not built (%s); make test builds it first", daprd)
		}
		t.Skip("daprd is not built; run make daprd")
	}
	changes := envInt("CHAOS_CHANGES", 1500)
	rate := envInt("CHAOS_RATE", 60) // writes per second
	users := envInt("CHAOS_USERS", 60)

	// Not t.TempDir: as root the PostgreSQL server runs as user postgres,
	// which must be able to reach its data directory.
	work, err := os.MkdirTemp("", "todo-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Create(filepath.Join(work, "processes.log"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logFile{f: lf}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()

	binDir := filepath.Join(work, "bin")
	if err := devstack.BuildBinaries(ctx, root, binDir, devstack.Binaries...); err != nil {
		t.Fatal(err)
	}
	// The machine lock first: the cluster below takes a free port, which
	// another test package's system could be about to use.
	release, err := devstack.LockMachine(ctx, 20*time.Minute, func(msg string) { t.Log(msg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	pgDir := filepath.Join(work, "pg")
	if err := os.MkdirAll(pgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pg, err := devstack.StartPrivateCluster(ctx, pgDir, logs)
	if err != nil {
		t.Fatalf("this suite crashes PostgreSQL, so it needs its own cluster (initdb, pg_ctl): %v", err)
	}
	t.Cleanup(pg.Close)
	if err := devstack.CreateDatabase(ctx, pg.AdminURL, "todo"); err != nil {
		t.Fatal(err)
	}
	openAPI, err := clienttest.NewValidator(api.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pg: pg, dbURL: pg.DatabaseURL("todo"), clients: map[string]*client.Client{}, openAPI: openAPI}
	h.sys, err = devstack.Up(ctx, devstack.Config{
		Root: root, WorkDir: work, Out: logs, Daprd: daprd, BinDir: binDir, DatabaseURL: h.dbURL,
		Broker: devstack.Broker(os.Getenv("BROKER")), BrokerDataDir: filepath.Join(work, "broker"), CronSchedule: "@every 2s", JWTSecret: jwtSecret,
		LogFormat: "json", DaprLogLevel: "warn", AppEnv: []string{"RATE_LIMIT_WRITES_PER_SECOND=0"},
		LockHeld: true, DevSignIn: true,
	})
	t.Cleanup(func() {
		if h.sys != nil {
			h.sys.Close()
		}
		if t.Failed() {
			b, _ := os.ReadFile(lf.Name())
			lines := strings.Split(string(b), "\n")
			t.Logf("the sidecars' errors of the whole run, each once:\n%s", sidecarErrors(lines, 100))
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			t.Logf("last process output:\n%s", strings.Join(lines, "\n"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		u := "user" + strconv.Itoa(i)
		tok, err := auth.Mint(auth.Config{Secret: []byte(jwtSecret)}, u, 2*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h.users = append(h.users, u)
		h.clients[u] = client.New(h.sys.APIURL(), tok, client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
			client.WithTransport(openAPI.Transport(nil)))
	}

	// Load and faults run together; the load goes on until it has made
	// `changes` changes and every fault has been injected.
	loadCtx, stopLoad := context.WithCancel(ctx)
	ld := &load{h: h, rate: rate, target: int64(changes), rng: rand.New(rand.NewPCG(1, 2)), open: map[string][]int64{}, repeating: map[int64]bool{}}
	loadDone := make(chan struct{})
	start := time.Now()
	go func() { defer close(loadDone); ld.run(loadCtx) }()

	faults := h.injectFaults(ctx, start, func() bool { return ld.done.Load() >= ld.target })
	stopLoad()
	<-loadDone
	loadTime := time.Since(start)

	settleStart := time.Now()
	res := h.settleAndCheck(ctx, 5*time.Minute)
	settle := time.Since(settleStart)

	report := h.report(changes, rate, users, ld, loadTime, settle, faults, res)
	t.Log("\n" + report)
	if path := os.Getenv("CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, c := range res {
		if c.Bad != 0 {
			t.Errorf("%s: %d (want 0)", c.Name, c.Bad)
		}
	}
	h.logMissingFromAudit(ctx)
	// Every fault of a round at least once (faultRound).
	if len(faults) < 13 {
		t.Errorf("only %d faults injected, want 13", len(faults))
	}
	// Every answer of the API, under every fault, is one its description
	// documents.
	for _, err := range openAPI.Errors() {
		t.Error(err)
	}
}

// --- load -----------------------------------------------------------------

type load struct {
	h      *harness
	rate   int
	target int64
	done   atomic.Int64 // successful changes
	failed atomic.Int64 // attempts that failed and were retried

	mu        sync.Mutex
	rng       *rand.Rand
	open      map[string][]int64 // user -> open task ids
	repeating map[int64]bool     // the open ones that repeat
}

func (l *load) pick() (user string, op string, id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	user = l.h.users[l.rng.IntN(len(l.h.users))]
	ids := l.open[user]
	r := l.rng.IntN(100)
	switch {
	case len(ids) < 2 || r < 40:
		return user, "create", 0
	case r < 55:
		op = "update"
	case r < 65:
		op = "move"
	case r < 88:
		op = "complete"
	default:
		op = "delete"
	}
	i := l.rng.IntN(len(ids))
	id = ids[i]
	if op == "complete" && l.repeating[id] && l.rng.IntN(3) == 0 {
		op = "skip"
	}
	if op != "update" && op != "move" {
		l.open[user] = append(ids[:i:i], ids[i+1:]...)
		delete(l.repeating, id)
	}
	return user, op, id
}

// newTask is a task of one of the kinds the run mixes: plain or repeating
// (the simple repeats, and rules whose series end after a count or on a
// date, from the due time or from completion), with no reminder, one
// already due, or several that fall due during the run (before the due
// time and at it, and an absolute one).
func (l *load) newTask() client.NewTask {
	l.mu.Lock()
	r := l.rng.IntN(100)
	n := l.rng.IntN(1 << 30)
	l.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	nt := client.NewTask{Title: "chaos task " + strconv.Itoa(n)}
	if r < 30 { // recurring, so completions and skips create next occurrences
		switch n % 7 {
		case 4:
			nt.RRule = "FREQ=DAILY;COUNT=3"
		case 5:
			nt.RRule = "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=" + now.Add(15*24*time.Hour).Format("20060102T150405Z")
		case 6:
			nt.RRule, nt.RepeatFrom = "FREQ=DAILY;INTERVAL=2;COUNT=2", client.RepeatFromCompletion
		default:
			nt.Recurrence = []client.Recurrence{client.RecurrenceDaily, client.RecurrenceWeekly,
				client.RecurrenceMonthly, client.RecurrenceYearly}[n%4]
		}
		due := now.Add(24 * time.Hour)
		nt.DueAt = &due
	}
	switch {
	case r%10 < 2: // a reminder already due
		at := now.Add(-time.Minute)
		nt.ReminderAt = &at
	case r%10 < 4: // several falling due during the run
		due := now.Add(time.Duration(30+n%30) * time.Second)
		at := now.Add(time.Duration(5+n%20) * time.Second)
		nt.DueAt = &due
		nt.Reminders = []client.Reminder{{Before: "PT20S"}, {Before: "PT10S"}, {Before: "PT0S"}, {At: &at}}
	}
	return nt
}

func (l *load) run(ctx context.Context) {
	const workers = 8
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				l.one(ctx)
			}
		}()
	}
	defer func() { close(jobs); wg.Wait() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			select {
			case jobs <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// one makes one change, retrying through outages until it is answered.
func (l *load) one(ctx context.Context) {
	user, op, id := l.pick()
	api := l.h.clients[user]
	var call func() (client.Task, error)
	var what string
	switch op {
	case "create":
		nt := l.newTask()
		body, _ := json.Marshal(nt)
		what = "create " + string(body)
		call = func() (client.Task, error) { return api.CreateTask(ctx, nt) }
	case "update": // always a real change, so always an event
		title := fmt.Sprintf("changed %d", time.Now().UnixNano())
		what = fmt.Sprintf("update task %d to %q", id, title)
		call = func() (client.Task, error) {
			return api.UpdateTask(ctx, id, client.TaskPatch{Title: client.Set(title)})
		}
	case "move": // the due time moves: pending relative reminders move with it
		due := time.Now().UTC().Add(time.Duration(20+id%40) * time.Second).Truncate(time.Second)
		what = fmt.Sprintf("move task %d to %s", id, due)
		call = func() (client.Task, error) {
			return api.UpdateTask(ctx, id, client.TaskPatch{DueAt: client.Set(due)})
		}
	case "complete":
		what = fmt.Sprintf("complete task %d", id)
		call = func() (client.Task, error) { return api.CompleteTask(ctx, id) }
	case "skip":
		what = fmt.Sprintf("skip task %d", id)
		call = func() (client.Task, error) { return api.SkipTask(ctx, id) }
	case "delete":
		what = fmt.Sprintf("delete task %d", id)
		call = func() (client.Task, error) { return client.Task{}, api.DeleteTask(ctx, id) }
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		tk, err := call()
		var apiErr *client.Error
		switch {
		case err == nil:
			l.done.Add(1)
			switch op {
			case "create":
				l.mu.Lock()
				l.open[user] = append(l.open[user], tk.ID)
				l.repeating[tk.ID] = tk.Recurrence != client.RecurrenceNone || tk.RRule != nil
				l.mu.Unlock()
			case "update", "move":
				l.mu.Lock()
				l.open[user] = append(l.open[user], id) // still open
				l.mu.Unlock()
			}
			return
		case errors.As(err, new(*clienttest.Error)):
			return // an answer off the description; the test reports it at the end
		case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
			return // an earlier attempt went through before its answer was lost
		case errors.As(err, &apiErr) && apiErr.StatusCode/100 == 4:
			l.h.t.Errorf("%s: %v", what, err)
			return
		}
		l.failed.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(min(attempt+1, 10)) * 100 * time.Millisecond):
		}
	}
}

// --- faults ---------------------------------------------------------------

// injectFaults injects every fault once, one at a time, and goes round
// again until the load is done.
func (h *harness) injectFaults(ctx context.Context, start time.Time, loadDone func() bool) []fault {
	var out []fault
	for round := 1; ; round++ {
		out = append(out, h.faultRound(ctx, start, round)...)
		if loadDone() {
			return out
		}
	}
}

func (h *harness) faultRound(ctx context.Context, start time.Time, round int) []fault {
	var out []fault
	gap := 3 * time.Second
	do := func(name string, f func() (string, error)) {
		time.Sleep(gap)
		at := time.Since(start)
		t0 := time.Now()
		note, err := f()
		if err != nil {
			h.t.Fatalf("fault %q: recovery failed: %v", name, err)
		}
		out = append(out, fault{Name: name, Round: round, At: at, Recovery: time.Since(t0), Note: note})
	}
	restartApp := func(id string) func() (string, error) {
		return func() (string, error) {
			inst := h.sys.Instances[id]
			inst.Proc.Kill()
			return "", h.sys.StartAppProcess(ctx, inst)
		}
	}
	restartSidecar := func(id string) func() (string, error) {
		return func() (string, error) {
			inst := h.sys.Instances[id]
			inst.Daprd.Kill()
			return "", h.sys.StartDaprd(ctx, inst)
		}
	}
	do("SIGKILL todo-api", restartApp("todo-api"))
	do("SIGKILL todo-api after commit, before publish", func() (string, error) {
		// With its sidecar gone the relay cannot publish: the writes of
		// these seconds are committed with their outbox rows unpublished
		// when todo-api dies.
		api := h.sys.Instances["todo-api"]
		api.Daprd.Kill()
		time.Sleep(2 * time.Second)
		pending := h.count(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		api.Proc.Kill()
		if err := h.sys.StartAppProcess(ctx, api); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d committed events unpublished at the kill", pending), h.sys.StartDaprd(ctx, api)
	})
	do("SIGKILL todo-api sidecar", restartSidecar("todo-api"))
	brokerFault := "SIGKILL broker (data dir kept)"
	if h.sys.Broker == nil {
		brokerFault = "cut every broker connection for 2 s"
	}
	do(brokerFault, func() (string, error) {
		if err := h.sys.RestartBroker(ctx); err != nil {
			return "", err
		}
		// On RabbitMQ, then what docs/deploy.md tells operators to do.
		names, err := h.sys.RestartStuckSidecars(ctx)
		if len(names) == 0 {
			return "", err
		}
		return fmt.Sprintf("then restarted the sidecars of %s (%s)", strings.Join(names, ", "), h.sys.BrokerKind.ReconnectGap()), err
	})
	for _, id := range []string{"audit-service", "recurring-service", "reminder-service", "notification-service"} {
		do("SIGKILL "+id, restartApp(id))
		do("SIGKILL "+id+" sidecar", restartSidecar(id))
	}
	do("crash and restart PostgreSQL", func() (string, error) {
		if err := h.pg.Crash(ctx); err != nil {
			return "", err
		}
		time.Sleep(time.Second)
		if err := h.pg.Start(ctx); err != nil {
			return "", err
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return "", devstack.WaitHTTP(wctx, h.sys.APIURL()+"/readyz", nil)
	})
	return out
}

// --- checks ---------------------------------------------------------------

// sidecarMsg is the message of one of daprd's text log lines.
var sidecarMsg = regexp.MustCompile(`level=error msg="((?:[^"\\]|\\.)*)"`)

// sidecarErrors lists the distinct error messages of the sidecars in
// lines (the processes' output), each with its process and its count,
// at most max of them: the errors of a whole run (e.g. a publish
// the broker never confirmed) that the output's tail may not reach.
func sidecarErrors(lines []string, max int) string {
	var order []string
	count := map[string]int{}
	for _, l := range lines {
		m := sidecarMsg.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		proc, _, _ := strings.Cut(l, "|")
		key := strings.TrimSpace(proc) + ": " + m[1]
		if _, ok := count[key]; !ok {
			if len(order) == max {
				continue
			}
			order = append(order, key)
		}
		count[key]++
	}
	var b strings.Builder
	for _, k := range order {
		fmt.Fprintf(&b, "%d× %s\n", count[k], k)
	}
	return b.String()
}

// missingFromAudit is the condition on an outbox row o whose event is not
// in the audit history.
const missingFromAudit = `NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.event_id = o.id::text)`

// logMissingFromAudit logs each committed event missing from the audit
// history (up to 20), with when it was committed and published, to set
// against the faults' times in the report.
func (h *harness) logMissingFromAudit(ctx context.Context) {
	conn, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		h.t.Logf("missing audit events: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT o.id::text, o.partition_key, o.event_type, o.created_at, o.published_at, o.publish_count
		FROM outbox o WHERE `+missingFromAudit+` ORDER BY o.seq LIMIT 20`)
	if err != nil {
		h.t.Logf("missing audit events: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id, key, typ string
		var created time.Time
		var published *time.Time
		var count int
		if err := rows.Scan(&id, &key, &typ, &created, &published, &count); err != nil {
			h.t.Logf("missing audit events: %v", err)
			return
		}
		h.t.Logf("missing from the audit history: event %s (%s of task %s), committed %s, published %v (%d publishes)",
			id, typ, key, created.UTC().Format(time.RFC3339Nano), published, count)
	}
}

func (h *harness) count(ctx context.Context, sql string, args ...any) int {
	for attempt := 0; ; attempt++ {
		conn, err := pgx.Connect(ctx, h.dbURL)
		if err == nil {
			var n int
			err = conn.QueryRow(ctx, sql, args...).Scan(&n)
			conn.Close(ctx)
			if err == nil {
				return n
			}
		}
		if attempt > 50 {
			h.t.Fatalf("query %q: %v", sql, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type check struct {
	Name  string
	Count int // what was checked
	Bad   int // lost, duplicated or out of order
}

// inboxIDs reads every notification id of every inbox in the state store.
func (h *harness) inboxIDs(ctx context.Context) map[string]int {
	conn, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT item->>'id' FROM dapr_state, jsonb_array_elements(value->'items') AS item
		WHERE key LIKE 'notification-service||inbox-%'`)
	if err != nil {
		h.t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, id := range ids {
		out[id]++
	}
	return out
}

func (h *harness) expectedReminders(ctx context.Context) []string {
	conn, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The record of sent reminders, whatever their tasks have become since.
	rows, err := conn.Query(ctx, `SELECT task_id, reminder_at FROM task_reminders WHERE sent_at IS NOT NULL`)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var id int64
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, events.ReminderEventID(id, at))
	}
	return out
}

func (h *harness) checks(ctx context.Context) []check {
	q := h.count
	outbox := q(ctx, `SELECT count(*) FROM outbox`)
	expected := h.expectedReminders(ctx)
	inbox := h.inboxIDs(ctx)
	missingInbox, dupInbox := 0, 0
	for _, id := range expected {
		switch inbox[id] {
		case 0:
			missingInbox++
		case 1:
		default:
			dupInbox++
		}
	}
	extraInbox := 0
	want := map[string]bool{}
	for _, id := range expected {
		want[id] = true
	}
	for id := range inbox {
		if !want[id] {
			extraInbox++
		}
	}
	completedRecurring := q(ctx, `SELECT count(*) FROM tasks WHERE recurrence <> 'none' AND completed_at IS NOT NULL`)
	return []check{
		{"events left unpublished in the outbox", outbox, q(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`)},
		{"committed events missing from the audit history", outbox,
			q(ctx, `SELECT count(*) FROM outbox o WHERE `+missingFromAudit)},
		{"audit entries that are no committed event", q(ctx, `SELECT count(*) FROM audit_events`),
			q(ctx, `SELECT count(*) FROM audit_events a WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id::text = a.event_id)`)},
		h.auditOrderCheck(ctx),
		{"completed recurring occurrences without exactly one next occurrence", completedRecurring,
			q(ctx, `SELECT count(*) FROM tasks t WHERE t.recurrence <> 'none' AND t.completed_at IS NOT NULL
				AND (SELECT count(*) FROM tasks n WHERE n.previous_id = t.id) <> 1`)},
		{"next occurrences of non-recurring or open tasks", q(ctx, `SELECT count(*) FROM tasks WHERE previous_id IS NOT NULL`),
			q(ctx, `SELECT count(*) FROM tasks n JOIN tasks p ON p.id = n.previous_id WHERE p.recurrence = 'none' OR p.completed_at IS NULL`)},
		{"occurrences beyond their series' COUNT", q(ctx, `SELECT count(*) FROM tasks WHERE rrule LIKE '%COUNT=%'`),
			q(ctx, `SELECT count(*) FROM tasks WHERE series_index > substring(rrule from 'COUNT=([0-9]+)')::int`)},
		{"next occurrences of the last of a series", q(ctx, `SELECT count(*) FROM tasks WHERE last_in_series`),
			q(ctx, `SELECT count(*) FROM tasks n JOIN tasks p ON p.id = n.previous_id WHERE p.last_in_series`)},
		{"reminders sent without an inbox entry", len(expected), missingInbox},
		{"reminders with more than one inbox entry", len(expected), dupInbox},
		{"inbox entries for no sent reminder", len(inbox), extraInbox},
		// The schedule holds the pending reminders of open tasks; a sent
		// one leaves it.
		{"due reminders of open tasks never sent", q(ctx, `SELECT count(*) FROM task_reminder_times`) + q(ctx, `SELECT count(*) FROM task_reminders`),
			q(ctx, `SELECT count(*) FROM task_reminder_times rt JOIN tasks t ON t.id = rt.task_id
				WHERE rt.remind_at <= now() - interval '10 seconds' AND t.completed_at IS NULL AND t.deleted_at IS NULL`)},
		{"reminders sent before their time", q(ctx, `SELECT count(*) FROM task_reminders`),
			q(ctx, `SELECT count(*) FROM task_reminders WHERE sent_at < reminder_at`)},
		{"tasks whose reminder_at is not their next pending reminder", q(ctx, `SELECT count(*) FROM tasks`),
			q(ctx, `SELECT count(*) FROM tasks t WHERE t.reminder_at IS DISTINCT FROM
				(SELECT min(remind_at) FROM task_reminder_times rt WHERE rt.task_id = t.id)`)},
		{"reminders listed by a sweep and never recorded sent", q(ctx, `SELECT count(*) FROM task_reminders`),
			q(ctx, `SELECT count(*) FROM task_reminders WHERE sent_at IS NULL`)},
		{"dead-lettered events", q(ctx, `SELECT count(*) FROM outbox`), q(ctx, `SELECT count(*) FROM dead_letters`)},
	}
}

// auditOrderCheck: each task's audited events are its versions 1, 2, 3, …
// without a gap. Where the broker orders one key's events (OrdersByKey),
// they must also have arrived in that order; elsewhere audit's history
// answers in version order whatever the arrival order.
func (h *harness) auditOrderCheck(ctx context.Context) check {
	q := h.count
	name, order := "tasks whose audited events have a gap (this broker does not order delivery)", "version, event_id"
	if h.sys.BrokerKind.OrdersByKey() {
		name, order = "tasks whose audited events arrived out of order or have a gap", "received_at, event_id"
	}
	return check{name, q(ctx, `SELECT count(DISTINCT task_id) FROM audit_events`),
		q(ctx, `SELECT count(DISTINCT task_id) FROM (SELECT task_id, version,
				lag(version) OVER (PARTITION BY task_id ORDER BY `+order+`) AS prev,
				row_number() OVER (PARTITION BY task_id ORDER BY `+order+`) AS n FROM audit_events) x
				WHERE (prev IS NOT NULL AND version <> prev + 1) OR (n = 1 AND version <> 1)`)}
}

// settleAndCheck waits until the checks pass or timeout, then returns them.
func (h *harness) settleAndCheck(ctx context.Context, timeout time.Duration) []check {
	deadline := time.Now().Add(timeout)
	for {
		res := h.checks(ctx)
		bad := 0
		for _, c := range res {
			bad += c.Bad
		}
		if bad == 0 || time.Now().After(deadline) {
			return res
		}
		time.Sleep(2 * time.Second)
	}
}

func (h *harness) report(changes, rate, users int, ld *load, loadTime, settle time.Duration, faults []fault, res []check) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Fault-injection run, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Load: %d task changes through the API (target %d, %d/s, %d users), %d failed attempts retried, %s; settled in %s.\n\n",
		ld.done.Load(), changes, rate, users, ld.failed.Load(), loadTime.Round(time.Second), settle.Round(time.Second))
	byStatus := map[int]int{}
	for o, n := range h.openAPI.Seen() {
		byStatus[o.Status] += n
	}
	var statuses []string
	for _, st := range slices.Sorted(maps.Keys(byStatus)) {
		statuses = append(statuses, fmt.Sprintf("%d: %d", st, byStatus[st]))
	}
	fmt.Fprintf(&b, "Answers of the API checked against openapi.yaml, by status: %s; %d did not match.\n\n",
		strings.Join(statuses, ", "), len(h.openAPI.Errors()))
	fmt.Fprintf(&b, "| round | fault | at | recovered in | note |\n|---|---|---|---|---|\n")
	for _, f := range faults {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", f.Round, f.Name, f.At.Round(time.Second), f.Recovery.Round(100*time.Millisecond), f.Note)
	}
	fmt.Fprintf(&b, "\n| check | checked | lost, duplicated or wrong |\n|---|---|---|\n")
	for _, c := range res {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", c.Name, c.Count, c.Bad)
	}
	return b.String()
}

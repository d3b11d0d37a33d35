package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/devstack"
)

type fullTask struct {
	ID         int64      `json:"id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	ReminderAt *time.Time `json:"reminder_at"`
	Recurrence string     `json:"recurrence"`
	Timezone   string     `json:"timezone"`
	Tags       []string   `json:"tags"`
	Priority   string     `json:"priority"`
	SeriesID   *int64     `json:"series_id"`
	Completed  bool       `json:"completed"`
}

// logLines returns the JSON log records of process name whose msg is msg.
func (e *env) logLines(name, msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.log.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		prefix, rest, ok := strings.Cut(sc.Text(), " | ")
		if !ok || strings.TrimSpace(prefix) != name {
			continue
		}
		var rec map[string]any
		if json.Unmarshal([]byte(rest), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// publishVia publishes a CloudEvent body through the sidecar of app appID
// (the publisher the topic's scope allows), as a third party with access to
// that sidecar would, and returns the sidecar's status code.
func (e *env) publishVia(appID, topic string, body []byte, token string) (int, string) {
	e.t.Helper()
	sc := e.sys.Instances[appID].Sidecar
	req, _ := http.NewRequest(http.MethodPost, sc.HTTPEndpoint()+"/v1.0/publish/kafka-pubsub/"+topic, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	if token != "" {
		req.Header.Set("dapr-api-token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// publishRaw publishes through the allowed publisher's sidecar and fails the
// test unless it succeeds.
func (e *env) publishRaw(topic string, body []byte) {
	e.t.Helper()
	app := map[string]string{"task-events": "todo-api", "reminders": "reminder-service"}[topic]
	if status, answer := e.publishVia(app, topic, body, e.sys.DaprToken); status/100 != 2 {
		e.t.Fatalf("publish to %s via %s: %d %s", topic, app, status, answer)
	}
}

// nextOf returns the tasks created as next occurrence of task id.
func (e *env) nextOf(id int64) []fullTask {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id FROM tasks WHERE previous_id = $1`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		e.t.Fatal(err)
	}
	var out []fullTask
	for _, nid := range ids {
		var t fullTask
		e.api("GET", fmt.Sprintf("/api/tasks/%d", nid), "", 200, &t)
		out = append(out, t)
	}
	return out
}

type historyEntry struct {
	EventID   string         `json:"event_id"`
	EventType string         `json:"event_type"`
	Version   int            `json:"version"`
	Data      map[string]any `json:"data"`
}

func (e *env) history(id int64) []historyEntry {
	var out struct {
		Events []historyEntry `json:"events"`
	}
	e.api("GET", fmt.Sprintf("/api/tasks/%d/history", id), "", 200, &out)
	return out.Events
}

type notification struct {
	ID         string    `json:"id"`
	TaskID     int64     `json:"task_id"`
	Title      string    `json:"title"`
	ReminderAt time.Time `json:"reminder_at"`
}

func (e *env) inbox() []notification {
	var out struct {
		Notifications []notification `json:"notifications"`
	}
	e.api("GET", "/api/notifications?limit=100", "", 200, &out)
	return out.Notifications
}

func (e *env) inboxFor(taskID int64) []notification {
	var out []notification
	for _, n := range e.inbox() {
		if n.TaskID == taskID {
			out = append(out, n)
		}
	}
	return out
}

// Every event of a task's life is in its audit history once, in order, also
// after the task was deleted, and each was logged on the audit console.
func TestAuditKeepsEveryEventOnceInOrder(t *testing.T) {
	e := startSystem(t)
	var tk fullTask
	e.api("POST", "/api/tasks", `{"title":"Audit me"}`, 201, &tk)
	e.api("PATCH", fmt.Sprintf("/api/tasks/%d", tk.ID), `{"priority":"high"}`, 200, nil)
	e.api("POST", fmt.Sprintf("/api/tasks/%d/complete", tk.ID), "", 200, nil)
	e.api("DELETE", fmt.Sprintf("/api/tasks/%d", tk.ID), "", 204, nil)

	want := []string{"TaskCreated", "TaskUpdated", "TaskCompleted", "TaskDeleted"}
	var h []historyEntry
	eventually(t, 60*time.Second, "the history has 4 events", func() bool { h = e.history(tk.ID); return len(h) >= len(want) })
	time.Sleep(time.Second)
	h = e.history(tk.ID)
	if len(h) != len(want) {
		t.Fatalf("history has %d events, want %d: %+v", len(h), len(want), h)
	}
	ids := outboxIDs(t, e.dbURL, tk.ID)
	for i, ev := range h {
		if ev.EventType != want[i] || ev.Version != i+1 || ev.EventID != ids[i] || ev.Data["task_id"] != float64(tk.ID) {
			t.Errorf("history[%d] = %s v%d %s, want %s v%d %s", i, ev.EventType, ev.Version, ev.EventID, want[i], i+1, ids[i])
		}
	}
	// The console: one "audit event" line per event id.
	seen := map[string]int{}
	for _, rec := range e.logLines("audit-service", "audit event") {
		if rec["task_id"] == float64(tk.ID) {
			seen[rec["event_id"].(string)]++
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s logged %d times on the audit console", id, seen[id])
		}
	}
	// Only the owner sees the history.
	bob, _ := auth.Mint(auth.Config{Secret: []byte(jwtSecret)}, "bob", time.Hour, time.Now())
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/tasks/%d/history", e.sys.APIURL(), tk.ID), nil)
	req.Header.Set("Authorization", "Bearer "+bob)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob reads alice's history: %d", resp.StatusCode)
	}
}

// Completing recurring tasks creates exactly one correct next occurrence
// each, and a duplicate TaskCompleted (same CloudEvent id) or a second
// completion creates nothing more.
func TestRecurringTasksGetOneNextOccurrence(t *testing.T) {
	e := startSystem(t)
	cases := []struct {
		name, body string
		wantDue    string
	}{ // the title of each task is the first word of its case name
		// 09:00 in Berlin stays 09:00 local across the switch to summer time.
		{"daily across DST", `{"title":"daily","recurrence":"daily","timezone":"Europe/Berlin","due_at":"2026-03-28T08:00:00Z","reminder_at":"2026-03-28T07:30:00Z","tags":["x"],"priority":"high"}`, "2026-03-29T07:00:00Z"},
		{"weekly", `{"title":"weekly","recurrence":"weekly","due_at":"2026-05-04T10:00:00Z"}`, "2026-05-11T10:00:00Z"},
		{"monthly Jan 31", `{"title":"monthly","recurrence":"monthly","due_at":"2027-01-31T12:00:00Z"}`, "2027-02-28T12:00:00Z"},
		{"yearly Feb 29", `{"title":"yearly","recurrence":"yearly","due_at":"2028-02-29T12:00:00Z"}`, "2029-02-28T12:00:00Z"},
	}
	ids := make([]int64, len(cases))
	for i, c := range cases {
		var tk fullTask
		e.api("POST", "/api/tasks", c.body, 201, &tk)
		ids[i] = tk.ID
		e.api("POST", fmt.Sprintf("/api/tasks/%d/complete", tk.ID), "", 200, nil)
	}
	for i, c := range cases {
		eventually(t, 60*time.Second, c.name+": next occurrence exists", func() bool { return len(e.nextOf(ids[i])) > 0 })
	}
	// Complete again after reopening, and replay the first TaskCompleted
	// with its CloudEvent id through the sidecar.
	e.api("POST", fmt.Sprintf("/api/tasks/%d/reopen", ids[1]), "", 200, nil)
	e.api("POST", fmt.Sprintf("/api/tasks/%d/complete", ids[1]), "", 200, nil)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dupID string
	var dup []byte
	if err := conn.QueryRow(ctx, `SELECT id::text, cloudevent::text FROM outbox WHERE partition_key = $1 AND event_type = 'TaskCompleted' ORDER BY seq LIMIT 1`,
		fmt.Sprint(ids[0])).Scan(&dupID, &dup); err != nil {
		t.Fatal(err)
	}
	e.publishRaw("task-events", dup)
	// The duplicate reached the consumers when audit logs it as one.
	eventually(t, 60*time.Second, "the duplicate was delivered", func() bool {
		for _, rec := range e.logLines("audit-service", "audit event") {
			if rec["event_id"] == dupID && rec["duplicate"] == true {
				return true
			}
		}
		return false
	})
	eventually(t, 60*time.Second, "the second completion was handled", func() bool {
		n := 0
		for _, rec := range e.logLines("recurring-service", "recurring: next occurrence") {
			if rec["task_id"] == float64(ids[1]) {
				n++
			}
		}
		return n >= 2
	})
	time.Sleep(2 * time.Second)

	for i, c := range cases {
		next := e.nextOf(ids[i])
		if len(next) != 1 {
			t.Errorf("%s: %d next occurrences, want exactly 1", c.name, len(next))
			continue
		}
		n := next[0]
		if n.DueAt == nil || n.DueAt.UTC().Format(time.RFC3339) != c.wantDue {
			t.Errorf("%s: next due %v, want %s", c.name, n.DueAt, c.wantDue)
		}
		if n.SeriesID == nil || *n.SeriesID != ids[i] || n.Completed || n.Title != strings.Fields(c.name)[0] {
			t.Errorf("%s: next = %+v, want an open task in series %d", c.name, n, ids[i])
		}
	}
	daily := e.nextOf(ids[0])[0]
	if daily.Timezone != "Europe/Berlin" || daily.Priority != "high" || len(daily.Tags) != 1 ||
		daily.ReminderAt == nil || daily.ReminderAt.UTC().Format(time.RFC3339) != "2026-03-29T06:30:00Z" {
		t.Errorf("daily next occurrence lost fields or the reminder offset: %+v (reminder %v)", daily, daily.ReminderAt)
	}
	// The chain goes on: completing the monthly Feb 28 gives Mar 31.
	feb := e.nextOf(ids[2])[0]
	e.api("POST", fmt.Sprintf("/api/tasks/%d/complete", feb.ID), "", 200, nil)
	eventually(t, 60*time.Second, "the March occurrence exists", func() bool { return len(e.nextOf(feb.ID)) == 1 })
	if mar := e.nextOf(feb.ID)[0]; mar.DueAt.UTC().Format(time.RFC3339) != "2027-03-31T12:00:00Z" || *mar.SeriesID != ids[2] {
		t.Errorf("monthly after Feb 28: due %v series %v, want 2027-03-31 in series %d", mar.DueAt, *mar.SeriesID, ids[2])
	}
	// A non-recurring task gets none.
	var once fullTask
	e.api("POST", "/api/tasks", `{"title":"once","due_at":"2026-05-04T10:00:00Z"}`, 201, &once)
	e.api("POST", fmt.Sprintf("/api/tasks/%d/complete", once.ID), "", 200, nil)
	eventually(t, 60*time.Second, "the one-off completion was seen", func() bool {
		for _, rec := range e.logLines("recurring-service", "recurring: task does not repeat") {
			if rec["task_id"] == float64(once.ID) {
				return true
			}
		}
		return false
	})
	if n := e.nextOf(once.ID); len(n) != 0 {
		t.Errorf("a non-recurring task got %d next occurrences", len(n))
	}
}

// A reminder that is due yields exactly one inbox entry within a few cron
// periods; completed and deleted tasks yield none; changing reminder_at arms
// a new one; two reminder-service replicas still yield one.
func TestRemindersAreDeliveredOnce(t *testing.T) {
	e := startSystem(t)
	past := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	var done, gone, later, due fullTask
	e.api("POST", "/api/tasks", fmt.Sprintf(`{"title":"done already","reminder_at":%q}`, past), 201, &done)
	e.api("POST", fmt.Sprintf("/api/tasks/%d/complete", done.ID), "", 200, nil)
	e.api("POST", "/api/tasks", fmt.Sprintf(`{"title":"deleted","reminder_at":%q}`, past), 201, &gone)
	e.api("DELETE", fmt.Sprintf("/api/tasks/%d", gone.ID), "", 204, nil)
	e.api("POST", "/api/tasks", `{"title":"not yet","reminder_at":"2099-01-01T00:00:00Z"}`, 201, &later)
	e.api("POST", "/api/tasks", fmt.Sprintf(`{"title":"Call mom","due_at":"2030-01-01T15:00:00Z","reminder_at":%q}`, past), 201, &due)

	eventually(t, 30*time.Second, "the reminder reaches the inbox", func() bool { return len(e.inboxFor(due.ID)) > 0 })
	sweeps := len(e.logLines("reminder-service", "reminder sweep"))
	eventually(t, 30*time.Second, "three more sweeps ran", func() bool {
		return len(e.logLines("reminder-service", "reminder sweep")) >= sweeps+3
	})
	got := e.inboxFor(due.ID)
	if len(got) != 1 || got[0].Title != "Call mom" {
		t.Fatalf("inbox for the due task: %+v, want exactly one", got)
	}
	for _, tk := range []fullTask{done, gone, later} {
		if n := e.inboxFor(tk.ID); len(n) != 0 {
			t.Errorf("task %q got %d notifications, want none", tk.Title, len(n))
		}
	}

	// Changing reminder_at after the reminder was sent arms a new one.
	e.api("PATCH", fmt.Sprintf("/api/tasks/%d", due.ID), fmt.Sprintf(`{"reminder_at":%q}`, time.Now().UTC().Add(-30*time.Second).Format(time.RFC3339)), 200, nil)
	eventually(t, 30*time.Second, "the new reminder reaches the inbox", func() bool { return len(e.inboxFor(due.ID)) == 2 })

	// A second replica: both sweep, the inbox still gets one entry.
	app, _ := devstack.AppByID("reminder-service")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.sys.StartInstance(ctx, app, "reminder-service#2"); err != nil {
		t.Fatal(err)
	}
	var twice fullTask
	e.api("POST", "/api/tasks", fmt.Sprintf(`{"title":"two replicas","reminder_at":%q}`, past), 201, &twice)
	eventually(t, 30*time.Second, "the reminder reaches the inbox", func() bool { return len(e.inboxFor(twice.ID)) > 0 })
	s1, s2 := len(e.logLines("reminder-service", "reminder sweep")), len(e.logLines("reminder-service#2", "reminder sweep"))
	eventually(t, 30*time.Second, "both replicas swept twice more", func() bool {
		return len(e.logLines("reminder-service", "reminder sweep")) >= s1+2 && len(e.logLines("reminder-service#2", "reminder sweep")) >= s2+2
	})
	if n := e.inboxFor(twice.ID); len(n) != 1 {
		t.Errorf("with two replicas the inbox has %d entries, want 1", len(n))
	}

	// The same ReminderDue delivered again (same CloudEvent id) is kept once.
	n := e.inboxFor(twice.ID)[0]
	replay := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"reminder-service","type":"todo.ReminderDue.v1",`+
		`"datacontenttype":"application/json","data":{"event_type":"ReminderDue","task_id":%d,"user_id":"alice",`+
		`"title":"two replicas","due_at":null,"reminder_at":%q}}`, n.ID, twice.ID, n.ReminderAt.Format(time.RFC3339Nano))
	e.publishRaw("reminders", []byte(replay))
	eventually(t, 30*time.Second, "the replay was delivered", func() bool {
		for _, rec := range e.logLines("notification-service", "notification delivered") {
			if rec["event_id"] == n.ID && rec["duplicate"] == true {
				return true
			}
		}
		return false
	})
	if got := e.inboxFor(twice.ID); len(got) != 1 {
		t.Errorf("after a replayed ReminderDue the inbox has %d entries, want 1", len(got))
	}

	// Marking read.
	var read struct {
		ReadAt *time.Time `json:"read_at"`
	}
	e.api("POST", "/api/notifications/"+n.ID+"/read", "", 200, &read)
	if read.ReadAt == nil {
		t.Error("read_at not set")
	}
	e.api("POST", "/api/notifications/no-such-id/read", "", 400, nil)
	e.api("POST", "/api/notifications/"+uuid.NewString()+"/read", "", 404, nil)
}

// A malformed event is dead-lettered and does not stop later events.
func TestMalformedEventIsDeadLettered(t *testing.T) {
	e := startSystem(t)
	dlq := e.startViewer("task-events-dlq")
	poison := `{"specversion":"1.0","id":"poison-1","source":"e2e","type":"todo.TaskCompleted.v1","datacontenttype":"application/json",` +
		`"data":{"event_type":"TaskCompleted","task_id":"not-a-number","user_id":"alice","timestamp":"2026-01-01T00:00:00Z"}}`
	e.publishRaw("task-events", []byte(poison))
	var tk fullTask
	e.api("POST", "/api/tasks", `{"title":"after the poison"}`, 201, &tk)
	eventually(t, 60*time.Second, "the later event is audited", func() bool { return len(e.history(tk.ID)) == 1 })
	eventually(t, 60*time.Second, "the poison event reaches the dead-letter topic", func() bool { return len(dlq.withID("poison-1")) > 0 })
	if len(e.logLines("audit-service", "audit: malformed event, dropping to dead-letter topic")) == 0 {
		t.Error("audit-service did not log the drop")
	}
}

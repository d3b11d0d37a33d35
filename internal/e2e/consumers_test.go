package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
)

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
func (e *env) nextOf(id int64) []client.Task {
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
	var out []client.Task
	for _, nid := range ids {
		out = append(out, e.get(nid))
	}
	return out
}

// Every event of a task's life is in its audit history once, in order, also
// after the task was deleted, and each was logged on the audit console.
func TestAuditKeepsEveryEventOnceInOrder(t *testing.T) {
	e := startSystem(t)
	tk := e.create(client.NewTask{Title: "Audit me"})
	e.update(tk.ID, client.TaskPatch{Priority: client.Set(client.PriorityHigh)})
	e.complete(tk.ID)
	e.del(tk.ID)

	want := []string{"TaskCreated", "TaskUpdated", "TaskCompleted", "TaskDeleted"}
	var h []client.HistoryEntry
	eventually(t, 60*time.Second, "the history has 4 events", func() bool { h = e.history(tk.ID); return len(h) >= len(want) })
	time.Sleep(time.Second)
	h = e.history(tk.ID)
	if len(h) != len(want) {
		t.Fatalf("history has %d events, want %d: %+v", len(h), len(want), h)
	}
	ids := outboxIDs(t, e.dbURL, tk.ID)
	for i, ev := range h {
		if ev.EventType != want[i] || ev.Version != i+1 || ev.EventID != ids[i] || dataOf(t, ev)["task_id"] != float64(tk.ID) {
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
	_, err := e.as("bob").client.History(t.Context(), tk.ID, client.PageQuery{})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("bob reads alice's history: %v", err)
	}
}

// Completing recurring tasks creates exactly one correct next occurrence
// each, and a duplicate TaskCompleted (same CloudEvent id) or a second
// completion creates nothing more.
func TestRecurringTasksGetOneNextOccurrence(t *testing.T) {
	e := startSystem(t)
	cases := []struct {
		name    string
		task    client.NewTask
		wantDue string
	}{ // the title of each task is the first word of its case name
		// 09:00 in Berlin stays 09:00 local across the switch to summer time.
		{"daily across DST", client.NewTask{Title: "daily", Recurrence: client.RecurrenceDaily, Timezone: "Europe/Berlin",
			DueAt: at("2026-03-28T08:00:00Z"), ReminderAt: at("2026-03-28T07:30:00Z"), Tags: []string{"x"}, Priority: client.PriorityHigh},
			"2026-03-29T07:00:00Z"},
		{"weekly", client.NewTask{Title: "weekly", Recurrence: client.RecurrenceWeekly, DueAt: at("2026-05-04T10:00:00Z")}, "2026-05-11T10:00:00Z"},
		{"monthly Jan 31", client.NewTask{Title: "monthly", Recurrence: client.RecurrenceMonthly, DueAt: at("2027-01-31T12:00:00Z")}, "2027-02-28T12:00:00Z"},
		{"yearly Feb 29", client.NewTask{Title: "yearly", Recurrence: client.RecurrenceYearly, DueAt: at("2028-02-29T12:00:00Z")}, "2029-02-28T12:00:00Z"},
	}
	ids := make([]int64, len(cases))
	for i, c := range cases {
		ids[i] = e.create(c.task).ID
		e.complete(ids[i])
	}
	for i, c := range cases {
		eventually(t, 60*time.Second, c.name+": next occurrence exists", func() bool { return len(e.nextOf(ids[i])) > 0 })
	}
	// Complete again after reopening, and replay the first TaskCompleted
	// with its CloudEvent id through the sidecar.
	e.reopen(ids[1])
	e.complete(ids[1])
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
		for _, rec := range e.logLines("recurring-service", "recurring event") {
			if rec["task_id"] == float64(ids[1]) && rec["next_task_id"] != nil {
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
		len(daily.Reminders) != 1 || daily.Reminders[0].At == nil || daily.Reminders[0].At.UTC().Format(time.RFC3339) != "2026-03-29T06:30:00Z" {
		// (The reminder is long past: it is kept, not pending, and
		// reminder_at, the next pending one, is null.)
		t.Errorf("daily next occurrence lost fields or the reminder offset: %+v (reminders %+v)", daily, daily.Reminders)
	}
	// The chain goes on: completing the monthly Feb 28 gives Mar 31.
	feb := e.nextOf(ids[2])[0]
	e.complete(feb.ID)
	eventually(t, 60*time.Second, "the March occurrence exists", func() bool { return len(e.nextOf(feb.ID)) == 1 })
	if mar := e.nextOf(feb.ID)[0]; mar.DueAt.UTC().Format(time.RFC3339) != "2027-03-31T12:00:00Z" || *mar.SeriesID != ids[2] {
		t.Errorf("monthly after Feb 28: due %v series %v, want 2027-03-31 in series %d", mar.DueAt, *mar.SeriesID, ids[2])
	}
	// A non-recurring task gets none.
	once := e.create(client.NewTask{Title: "once", DueAt: at("2026-05-04T10:00:00Z")})
	e.complete(once.ID)
	eventually(t, 60*time.Second, "the one-off completion was seen", func() bool {
		for _, rec := range e.logLines("recurring-service", "recurring event") {
			if rec["task_id"] == float64(once.ID) && rec["outcome"] == "skipped" {
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
	past := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	done := e.create(client.NewTask{Title: "done already", ReminderAt: &past})
	e.complete(done.ID)
	gone := e.create(client.NewTask{Title: "deleted", ReminderAt: &past})
	e.del(gone.ID)
	later := e.create(client.NewTask{Title: "not yet", ReminderAt: at("2099-01-01T00:00:00Z")})
	due := e.create(client.NewTask{Title: "Call mom", DueAt: at("2030-01-01T15:00:00Z"), ReminderAt: &past})

	eventually(t, 30*time.Second, "the reminder reaches the inbox", func() bool { return len(e.inboxFor(due.ID)) > 0 })
	sweeps := len(e.logLines("reminder-service", "reminder sweep"))
	eventually(t, 30*time.Second, "three more sweeps ran", func() bool {
		return len(e.logLines("reminder-service", "reminder sweep")) >= sweeps+3
	})
	got := e.inboxFor(due.ID)
	if len(got) != 1 || got[0].Title != "Call mom" {
		t.Fatalf("inbox for the due task: %+v, want exactly one", got)
	}
	for _, tk := range []client.Task{done, gone, later} {
		if n := e.inboxFor(tk.ID); len(n) != 0 {
			t.Errorf("task %q got %d notifications, want none", tk.Title, len(n))
		}
	}

	// Changing reminder_at after the reminder was sent arms a new one.
	e.update(due.ID, client.TaskPatch{ReminderAt: client.Set(time.Now().UTC().Add(-30 * time.Second).Truncate(time.Second))})
	eventually(t, 30*time.Second, "the new reminder reaches the inbox", func() bool { return len(e.inboxFor(due.ID)) == 2 })

	// A second replica: both sweep, the inbox still gets one entry.
	app, _ := devstack.AppByID("reminder-service")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.sys.StartInstance(ctx, app, "reminder-service#2"); err != nil {
		t.Fatal(err)
	}
	twice := e.create(client.NewTask{Title: "two replicas", ReminderAt: &past})
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
	read, err := e.client.MarkNotificationRead(t.Context(), n.ID)
	e.ok("mark read", err)
	if read.ReadAt == nil || read.ID != n.ID {
		t.Errorf("read_at not set: %+v", read)
	}
	_, err = e.client.MarkNotificationRead(t.Context(), "no-such-id")
	e.refused("mark read of a malformed id", err, http.StatusBadRequest)
	_, err = e.client.MarkNotificationRead(t.Context(), uuid.NewString())
	e.refused("mark read of an unknown id", err, http.StatusNotFound)
}

// A malformed event is dead-lettered and does not stop later events.
func TestMalformedEventIsDeadLettered(t *testing.T) {
	e := startSystem(t)
	dlq := e.startViewer("task-events-dlq")
	poison := `{"specversion":"1.0","id":"poison-1","source":"e2e","type":"todo.TaskCompleted.v1","datacontenttype":"application/json",` +
		`"data":{"event_type":"TaskCompleted","task_id":"not-a-number","user_id":"alice","timestamp":"2026-01-01T00:00:00Z"}}`
	e.publishRaw("task-events", []byte(poison))
	tk := e.create(client.NewTask{Title: "after the poison"})
	eventually(t, 60*time.Second, "the later event is audited", func() bool { return len(e.history(tk.ID)) == 1 })
	eventually(t, 60*time.Second, "the poison event reaches the dead-letter topic", func() bool { return len(dlq.withID("poison-1")) > 0 })
	logged := false
	for _, rec := range e.logLines("audit-service", "event dropped to the dead-letter topic") {
		logged = logged || rec["event_id"] == "poison-1"
	}
	if !logged {
		t.Error("audit-service did not log the drop")
	}
}

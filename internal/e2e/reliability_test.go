package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/dapr"
)

// deadLetters lists audit-service's record of dead-lettered events, the way
// an operator would: service invocation through a sidecar, with its token.
func (e *env) deadLetters(topic string) map[string]bool {
	e.t.Helper()
	sc := e.sys.Instances["todo-api"].Sidecar
	audit := auditapi.Client{Dapr: dapr.New(sc.HTTPEndpoint(), e.sys.DaprToken)}
	list, err := audit.DeadLetters(e.t.Context(), topic, auditapi.MaxDeadLetterLimit)
	if err != nil {
		e.t.Fatalf("dead letters: %v", err)
	}
	ids := map[string]bool{}
	for _, d := range list {
		ids[d.EventID] = true
	}
	return ids
}

// A poison event that its subscriber keeps failing is retried a bounded
// number of times, then reaches the dead-letter topic in under 30 s, while
// events of other tasks keep flowing; the dead letter is logged, counted and
// listed.
func TestPoisonEventIsDeadLetteredWhileOthersFlow(t *testing.T) {
	e := startSystem(t)
	viewer := e.startViewerWith(viewerOpts{
		retryIDs:        map[string]bool{"poison-retry": true},
		deadLetterTopic: map[string]string{"task-events": "task-events-dlq"},
	}, "task-events", "task-events-dlq")
	// Wait until the viewer is subscribed: its first event arrives.
	warm := e.create(client.NewTask{Title: "warm-up"})
	eventually(t, 60*time.Second, "the viewer receives events", func() bool { return len(viewer.forTask(warm.ID)) > 0 })

	poison := `{"specversion":"1.0","id":"poison-retry","source":"e2e","type":"todo.TaskUpdated.v1","datacontenttype":"application/json",` +
		`"data":{"event_type":"TaskUpdated","task_id":999999,"user_id":"nobody","title":"p","timestamp":"2026-01-01T00:00:00Z","version":1}}`
	start := time.Now()
	e.publishRaw("task-events", []byte(poison))
	var others []int64
	for i := range 8 {
		others = append(others, e.create(client.NewTask{Title: fmt.Sprintf("other %d", i)}).ID)
	}
	eventually(t, 45*time.Second, "the poison event reaches the dead-letter topic", func() bool {
		for _, d := range viewer.withID("poison-retry") {
			if d.Topic == "task-events-dlq" {
				return true
			}
		}
		return false
	})
	var dlqAt time.Time
	attempts := 0
	for _, d := range viewer.withID("poison-retry") {
		if d.Topic == "task-events-dlq" {
			dlqAt = d.At
		} else {
			attempts++
		}
	}
	toDLQ := dlqAt.Sub(start)
	eventually(t, 60*time.Second, "every other task's event arrives", func() bool {
		for _, id := range others {
			if len(viewer.forTask(id)) == 0 {
				return false
			}
		}
		return true
	})
	before, slowest := 0, time.Duration(0)
	for _, id := range others {
		d := viewer.forTask(id)[0]
		if d.At.Before(dlqAt) {
			before++
		}
		slowest = max(slowest, d.At.Sub(start))
	}
	t.Logf("poison event: %d delivery attempts, dead-lettered after %s; %d of %d other tasks' events arrived before that, the last %s after the poison was published",
		attempts, toDLQ.Round(time.Millisecond), before, len(others), slowest.Round(time.Millisecond))
	if toDLQ > 30*time.Second {
		t.Errorf("poison event took %s to reach the dead-letter topic, want under 30 s", toDLQ)
	}
	if attempts < 2 || attempts > 10 {
		t.Errorf("%d delivery attempts, want the resiliency policy's bounded retries (1 + 8)", attempts)
	}
	if before == 0 {
		t.Error("no other task's event arrived while the poison event was being retried")
	}
	// audit-service saw the dead letter: listed, logged and counted.
	eventually(t, 30*time.Second, "audit-service lists the dead letter", func() bool { return e.deadLetters("task-events-dlq")["poison-retry"] })
	found := false
	for _, rec := range e.logLines("audit-service", "dead letter") {
		if rec["event_id"] == "poison-retry" {
			found = true
		}
	}
	if !found {
		t.Error("the dead letter was not logged")
	}
	resp, err := http.Get(e.sys.Instances["audit-service"].MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `todo_dead_letters_total{topic="task-events-dlq"}`) {
		t.Errorf("no dead-letter counter in /metrics")
	}
}

// A consumer that is down for a while catches up from where it stopped.
func TestConsumerCatchesUpAfterDowntime(t *testing.T) {
	e := startSystem(t)
	audit := e.sys.Instances["audit-service"]
	first := e.create(client.NewTask{Title: "before"})
	eventually(t, 60*time.Second, "audit has the first event", func() bool { return len(e.history(first.ID)) == 1 })

	audit.Daprd.Stop(10 * time.Second)
	audit.Proc.Stop(10 * time.Second)
	var during []int64
	for i := range 10 {
		tk := e.create(client.NewTask{Title: fmt.Sprintf("while audit is down %d", i)})
		e.update(tk.ID, client.TaskPatch{Priority: client.Set(client.PriorityLow)})
		during = append(during, tk.ID)
	}
	time.Sleep(3 * time.Second) // the events are on the broker, unread by audit
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.sys.StartAppProcess(ctx, audit); err != nil {
		t.Fatal(err)
	}
	if err := e.sys.StartDaprd(ctx, audit); err != nil {
		t.Fatal(err)
	}
	for _, id := range during {
		eventually(t, 60*time.Second, fmt.Sprintf("audit catches up on task %d", id), func() bool { return len(e.history(id)) == 2 })
	}
	if h := e.history(first.ID); len(h) != 1 {
		t.Errorf("the event from before the downtime is in the history %d times", len(h))
	}
}

// Malformed events sent through the sidecars are dropped to the dead-letter
// topics by every consumer, none blocks its partition and none has an effect.
// Events of a type this version does not know are not malformed: audit
// stores and logs them, the other consumers acknowledge them, and none is
// dead-lettered.
func TestMalformedEventsTable(t *testing.T) {
	e := startSystem(t)
	ce := func(id, eventType string, data string) []byte {
		return []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"e2e","type":"todo.%s.v1","datacontenttype":"application/json","data":%s}`,
			id, eventType, data))
	}
	huge := strings.Repeat("x", 600<<10)
	taskEvents := map[string][]byte{
		"bad-task-id-type":  ce("bad-task-id-type", "TaskCreated", `{"event_type":"TaskCreated","task_id":"12","user_id":"alice","title":"t","timestamp":"2026-01-01T00:00:00Z"}`),
		"missing-user":      ce("missing-user", "TaskCreated", `{"event_type":"TaskCreated","task_id":990001,"title":"t","timestamp":"2026-01-01T00:00:00Z"}`),
		"bad-time":          ce("bad-time", "TaskUpdated", `{"event_type":"TaskUpdated","task_id":990003,"user_id":"alice","title":"t","timestamp":"yesterday"}`),
		"completed-no-time": ce("completed-no-time", "TaskCompleted", `{"event_type":"TaskCompleted","task_id":990004,"user_id":"alice","title":"t","recurrence":"daily","timezone":"Mars/Base"}`),
		"huge":              ce("huge", "TaskCreated", `{"event_type":"TaskCreated","task_id":"990005","user_id":"alice","title":"`+huge+`","timestamp":"2026-01-01T00:00:00Z"}`),
		"data-not-object":   ce("data-not-object", "TaskCreated", `"just a string"`),
	}
	reminders := map[string][]byte{
		"rem-missing-at":  ce("rem-missing-at", "ReminderDue", `{"event_type":"ReminderDue","task_id":990010,"user_id":"alice","title":"t"}`),
		"rem-task-string": ce("rem-task-string", "ReminderDue", `{"event_type":"ReminderDue","task_id":"990012","user_id":"alice","title":"t","reminder_at":"2026-01-01T00:00:00Z"}`),
	}
	unknownTask := ce("unknown-type", "TaskArchived", `{"event_type":"TaskArchived","task_id":990002,"user_id":"alice","title":"t","timestamp":"2026-01-01T00:00:00Z"}`)
	unknownReminder := ce("rem-unknown-type", "ReminderSnoozed", `{"event_type":"ReminderSnoozed","task_id":990011,"user_id":"alice","title":"t","reminder_at":"2026-01-01T00:00:00Z"}`)
	e.publishRaw("task-events", unknownTask)
	e.publishRaw("reminders", unknownReminder)
	for _, body := range taskEvents {
		e.publishRaw("task-events", body)
	}
	for _, body := range reminders {
		e.publishRaw("reminders", body)
	}
	// Later valid events flow.
	after := e.create(client.NewTask{Title: "after the malformed ones"})
	eventually(t, 60*time.Second, "a later event is audited", func() bool { return len(e.history(after.ID)) == 1 })

	for name, set := range map[string]map[string][]byte{"task-events-dlq": taskEvents, "reminders-dlq": reminders} {
		eventually(t, 60*time.Second, "every malformed event is dead-lettered on "+name, func() bool {
			got := e.deadLetters(name)
			for id := range set {
				if !got[id] {
					return false
				}
			}
			return true
		})
	}
	// The event of an unknown type is audited, the notifier acknowledged
	// the unknown reminder, and neither reached a dead-letter topic.
	eventually(t, 60*time.Second, "the event of an unknown type is audited", func() bool {
		for _, rec := range e.logLines("audit-service", "audit event") {
			if rec["event_id"] == "unknown-type" && rec["event_type"] == "TaskArchived" {
				return true
			}
		}
		return false
	})
	eventually(t, 60*time.Second, "the notifier acknowledges the unknown reminder", func() bool {
		for _, rec := range e.logLines("notification-service", "event of an unknown type, acknowledged") {
			if rec["event_id"] == "rem-unknown-type" {
				return true
			}
		}
		return false
	})
	if e.deadLetters("task-events-dlq")["unknown-type"] || e.deadLetters("reminders-dlq")["rem-unknown-type"] {
		t.Error("an event of an unknown type was dead-lettered")
	}
	// The TaskCompleted-shaped one reached recurring-service's handler and
	// was dropped there too.
	dropped := false
	for _, rec := range e.logLines("recurring-service", "event dropped to the dead-letter topic") {
		if rec["event_id"] == "completed-no-time" {
			dropped = true
		}
	}
	if !dropped {
		t.Error("recurring-service did not drop the malformed TaskCompleted")
	}
	// No effect: no audit rows, no next occurrence, no notification.
	for id := int64(990001); id <= 990012; id++ {
		if len(e.nextOf(id)) != 0 {
			t.Errorf("task %d got a next occurrence", id)
		}
		if len(e.inboxFor(id)) != 0 {
			t.Errorf("task %d got a notification", id)
		}
	}
	for _, rec := range e.logLines("audit-service", "audit event") {
		if id, _ := rec["task_id"].(float64); id >= 990001 && id <= 990012 && id != 990002 {
			t.Errorf("audit stored malformed event %v", rec["event_id"])
		}
	}
}

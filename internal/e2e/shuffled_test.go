package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/dapr/consumer/consumertest"
	"github.com/evolution-todo/todo/internal/events"
)

// One task's events delivered shuffled and duplicated, as brokers other
// than Kafka deliver them (unordered, at least once), through the real
// broker, sidecars, consumers and databases: every effect is what ordered,
// once-only delivery would give.
//   - audit-service keeps each event once, and the history is in version
//     order;
//   - recurring-service makes exactly one next occurrence of the completed
//     task, though it completed twice;
//   - notification-service has each reminder once, in reminder order.
//
// The events are the task's real TaskCreated, copied with other types and
// versions and one timestamp (so that only versions order them), published
// through the sidecars of the apps that may publish them.
func TestShuffledAndDuplicatedEvents(t *testing.T) {
	checkShuffled(t, startSystem(t))
}

// checkShuffled is TestShuffledAndDuplicatedEvents on the system of e.
func checkShuffled(t *testing.T, e *env) {
	due := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Second)
	tk := e.create(client.NewTask{Title: "Shuffled", Recurrence: client.RecurrenceDaily, DueAt: &due, Timezone: "Europe/Berlin"})
	created := e.outboxData(tk.ID, events.TaskCreated)
	eventually(t, time.Minute, "the task's TaskCreated in its history", func() bool { return len(e.history(tk.ID)) == 1 })

	at := time.Now().UTC().Truncate(time.Second)
	type change struct {
		typ       string
		completed bool
	}
	life := []change{ // versions 2..7
		{events.TaskUpdated, false}, {events.TaskCompleted, true}, {events.TaskUpdated, false},
		{events.TaskUpdated, false}, {events.TaskCompleted, true}, {events.TaskUpdated, true},
	}
	var taskBodies [][]byte
	for i, c := range life {
		data := clone(created)
		data["event_type"], data["version"], data["timestamp"], data["completed"] = c.typ, i+2, at, c.completed
		if c.completed {
			data["completed_at"] = at
		}
		taskBodies = append(taskBodies, cloudEvent(t, uuid.NewString(), "todo-api", c.typ, tk.ID, at, data))
	}
	var reminderBodies [][]byte
	var wantReminders []time.Time // newest first
	for i := range 4 {
		ra := at.Add(-time.Duration(4-i) * 15 * time.Minute)
		wantReminders = append([]time.Time{ra}, wantReminders...)
		data := events.ReminderEvent{EventType: events.ReminderDue, TaskID: tk.ID, UserID: "alice", Title: tk.Title, DueAt: &due, ReminderAt: ra}
		reminderBodies = append(reminderBodies, cloudEvent(t, events.ReminderEventID(tk.ID, ra), "reminder-service", events.ReminderDue, tk.ID, at, data))
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("shuffle seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 3))
	sent := 0
	for _, b := range consumertest.ShuffledWithDuplicates(r, taskBodies) {
		e.publishRaw(events.TopicTaskEvents, b)
		sent++
	}
	for _, b := range consumertest.ShuffledWithDuplicates(r, reminderBodies) {
		e.publishRaw(events.TopicReminders, b)
		sent++
	}
	t.Logf("published %d deliveries of %d events", sent, len(taskBodies)+len(reminderBodies))

	var versions []int
	eventually(t, 2*time.Minute, "every event in the history", func() bool {
		versions = versions[:0]
		for _, h := range e.history(tk.ID) {
			versions = append(versions, h.Version)
		}
		return len(versions) >= 1+len(life)
	})
	var next []client.Task
	eventually(t, time.Minute, "a next occurrence", func() bool { next = e.nextOf(tk.ID); return len(next) > 0 })
	var inbox []client.Notification
	eventually(t, time.Minute, "every reminder in the inbox", func() bool { inbox = e.inboxFor(tk.ID); return len(inbox) >= len(reminderBodies) })
	time.Sleep(3 * time.Second) // duplicates still on their way would land now

	versions = versions[:0]
	for _, h := range e.history(tk.ID) {
		versions = append(versions, h.Version)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(versions, want) {
		t.Errorf("history versions %v, want %v", versions, want)
	}
	if next = e.nextOf(tk.ID); len(next) != 1 {
		t.Errorf("%d next occurrences of the task completed twice, want 1", len(next))
	}
	inbox = e.inboxFor(tk.ID)
	var got []time.Time
	for _, n := range inbox {
		got = append(got, n.ReminderAt.UTC())
	}
	if !slices.EqualFunc(got, wantReminders, time.Time.Equal) {
		t.Errorf("inbox reminder times %v, want %v (each once, newest first)", got, wantReminders)
	}
}

// outboxData is the data of task id's first event of type typ, as todo-api
// wrote it to its outbox.
func (e *env) outboxData(id int64, typ string) map[string]any {
	e.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ce struct {
		Data map[string]any `json:"data"`
	}
	var raw []byte
	if err := conn.QueryRow(ctx, `SELECT cloudevent FROM outbox WHERE event_type = $1 AND cloudevent->>'subject' = $2 ORDER BY seq LIMIT 1`,
		typ, fmt.Sprint(id)).Scan(&raw); err != nil {
		e.t.Fatalf("the %s of task %d in the outbox: %v", typ, id, err)
	}
	if err := json.Unmarshal(raw, &ce); err != nil || ce.Data == nil {
		e.t.Fatalf("outbox event %s: %v", raw, err)
	}
	return ce.Data
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// cloudEvent is a CloudEvent of type typ for task taskID, as its producer
// publishes it.
func cloudEvent(t *testing.T, id, source, typ string, taskID int64, at time.Time, data any) []byte {
	t.Helper()
	ce, err := events.NewCloudEvent(id, source, typ, taskID, at, data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/reminder"
)

// racingSidecar is the reminder sweep's real sidecar client (the
// reminder-service daprd) with a step put between the accepted publish and
// the mark: after a bulk publish the broker accepted, it changes the
// published tasks through the public API (complete, delete, move the
// reminder), and, while loseMark is set, it then loses the mark as a sweep
// killed at that moment would.
type racingSidecar struct {
	real *dapr.Client
	e    *env
	api  *client.Client // the public API, as the test's user

	// creating is held while a phase's tasks are created, so that a sweep
	// lists them all in one page.
	creating sync.Mutex

	mu        sync.Mutex
	change    map[int64]string // task id -> what to do to it after its publish (once)
	loseMark  bool             // lose the marks of the page that was changed
	lostIDs   map[int64]bool   // tasks whose mark is to be lost (once)
	published map[string]int   // event id -> accepted publishes
	marked    int              // sum of todo-api's "marked" answers
	lists     int              // list calls (one or more per sweep)
	errs      []error
}

func (r *racingSidecar) BulkPublishCloudEvents(ctx context.Context, pubsub, topic string, entries []dapr.BulkEntry) error {
	if err := r.real.BulkPublishCloudEvents(ctx, pubsub, topic, entries); err != nil {
		return err
	}
	r.mu.Lock()
	var todo []struct {
		id int64
		op string
	}
	for _, en := range entries {
		r.published[en.ID]++
		var ce struct {
			Data struct {
				TaskID int64 `json:"task_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(en.Event, &ce); err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		if op, ok := r.change[ce.Data.TaskID]; ok {
			delete(r.change, ce.Data.TaskID)
			todo = append(todo, struct {
				id int64
				op string
			}{ce.Data.TaskID, op})
			if r.loseMark {
				r.lostIDs[ce.Data.TaskID] = true
			}
		}
	}
	r.mu.Unlock()
	// The publish was accepted; now the tasks change, before the mark.
	for _, c := range todo {
		if err := r.changeTask(ctx, c.id, c.op); err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
		}
	}
	return nil
}

func (r *racingSidecar) changeTask(ctx context.Context, id int64, op string) error {
	var err error
	switch op {
	case "complete":
		_, err = r.api.CompleteTask(ctx, id)
	case "delete":
		err = r.api.DeleteTask(ctx, id)
	case "move":
		_, err = r.api.UpdateTask(ctx, id, client.TaskPatch{ReminderAt: client.Set(*at("2099-01-01T00:00:00Z"))})
	default:
		err = fmt.Errorf("unknown change %q", op)
	}
	if err != nil {
		return fmt.Errorf("%s task %d: %w", op, id, err)
	}
	return nil
}

var errKilled = errors.New("the sweep was killed before its mark")

func (r *racingSidecar) Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error) {
	switch method {
	case "internal/reminders/due":
		r.creating.Lock()
		r.lists++ // under creating, like the other fields the test reads
		r.creating.Unlock()
	case "internal/reminders/sent":
		b, err := json.Marshal(body)
		if err != nil {
			return dapr.Response{}, err
		}
		var sent todointernal.Reminders
		if err := json.Unmarshal(b, &sent); err != nil {
			return dapr.Response{}, err
		}
		r.mu.Lock()
		lost := false
		for _, s := range sent.Reminders {
			if r.lostIDs[s.TaskID] {
				lost = true
				delete(r.lostIDs, s.TaskID)
			}
		}
		r.mu.Unlock()
		if lost {
			return dapr.Response{}, errKilled
		}
	}
	resp, err := r.real.Invoke(ctx, appID, httpMethod, method, query, body)
	if err == nil && method == "internal/reminders/sent" && resp.Status == http.StatusOK {
		var out todointernal.Marked
		if json.Unmarshal(resp.Body, &out) == nil {
			r.mu.Lock()
			r.marked += out.Marked
			r.mu.Unlock()
		}
	}
	return resp, err
}

func (r *racingSidecar) listCalls() int {
	r.creating.Lock()
	defer r.creating.Unlock()
	return r.lists
}

// startRacingReminder runs the reminder sweep (reminder.Service) in this
// process behind a real reminder-service daprd, so the real cron binding
// ticks it, it lists and marks through real service invocation and publishes
// to the real broker.
func (e *env) startRacingReminder() *racingSidecar {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	sc, err := devstack.NewSidecar("reminder-service", ln.Addr().(*net.TCPAddr).Port, e.sys.ComponentsDir)
	if err != nil {
		e.t.Fatal(err)
	}
	sc.ConfigFile = e.sys.DaprConfig()
	rs := &racingSidecar{
		real: dapr.New(fmt.Sprintf("http://127.0.0.1:%d", sc.HTTPPort), e.sys.DaprToken), e: e, api: e.client,
		change: map[int64]string{}, lostIDs: map[int64]bool{}, published: map[string]int{},
	}
	svc := &reminder.Service{Dapr: rs, Log: slog.New(slog.NewJSONHandler(e.log, nil)),
		PubSub: "kafka-pubsub", AppToken: e.sys.AppToken("reminder-service"), TodoAppID: "todo-api", Now: time.Now}
	srv := &http.Server{Handler: svc.Routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.sys.StartSidecar(ctx, sc, []string{"DAPR_API_TOKEN=" + e.sys.DaprToken, "APP_API_TOKEN=" + e.sys.AppToken("reminder-service")}); err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// sentRecord returns the reminder times recorded sent for task id, and how
// many listed reminders of it are not recorded sent.
func (e *env) sentRecord(id int64) (sent []time.Time, unsent int, err error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT reminder_at FROM task_reminders WHERE task_id = $1 AND sent_at IS NOT NULL`, id)
	if err != nil {
		return nil, 0, err
	}
	if sent, err = pgx.CollectRows(rows, pgx.RowTo[time.Time]); err != nil {
		return nil, 0, err
	}
	err = conn.QueryRow(ctx, `SELECT count(*) FROM task_reminders WHERE task_id = $1 AND sent_at IS NULL`, id).Scan(&unsent)
	return sent, unsent, err
}

// A reminder whose publish the broker accepted is recorded as sent, and
// reaches the inbox once, whatever happens to its task before the sweep
// marks it: completed, deleted, or its reminder moved; both when the mark
// then arrives and when the sweep is killed before it (the next sweep
// publishes the same event id again and marks it). This is the race the
// fault-injection run hit ("inbox entries for no sent reminder: 1").
func TestReminderPublishedThenTaskChangedIsRecordedSent(t *testing.T) {
	e := startSystem(t, "todo-api", "notification-service")
	rs := e.startRacingReminder()
	past := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)

	for _, phase := range []struct {
		name     string
		loseMark bool
	}{{"mark arrives", false}, {"sweep killed before the mark", true}} {
		func() {
			ops := []string{"complete", "delete", "move"}
			ids := map[string]int64{}
			rs.creating.Lock()
			rs.mu.Lock()
			rs.loseMark = phase.loseMark
			markedBefore := rs.marked
			rs.mu.Unlock()
			for _, op := range ops {
				ids[op] = e.create(client.NewTask{Title: phase.name + ": " + op, ReminderAt: &past}).ID
				rs.mu.Lock()
				rs.change[ids[op]] = op
				rs.mu.Unlock()
			}
			rs.creating.Unlock()

			wantPublishes := 1
			if phase.loseMark {
				wantPublishes = 2 // published, mark lost, published again by the next sweep
			}
			eventID := func(op string) string { return events.ReminderEventID(ids[op], past) }
			// Wait (at most a minute) until each is published and recorded;
			// what did not happen is reported below.
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				rs.mu.Lock()
				done := rs.marked-markedBefore >= len(ops)
				for _, op := range ops {
					done = done && rs.published[eventID(op)] >= wantPublishes
				}
				rs.mu.Unlock()
				if done {
					break
				}
			}
			// A few more sweeps: nothing more is published for them.
			ticks := rs.listCalls()
			eventually(t, 30*time.Second, "three more sweeps ran", func() bool { return rs.listCalls() >= ticks+3 })
			rs.mu.Lock()
			for _, err := range rs.errs {
				t.Error(err)
			}
			rs.errs = nil
			for _, op := range ops {
				if n := rs.published[eventID(op)]; n != wantPublishes {
					t.Errorf("%s, %s: reminder published %d times, want %d", phase.name, op, n, wantPublishes)
				}
			}
			if got := rs.marked - markedBefore; got != len(ops) {
				t.Errorf("%s: todo-api recorded %d of the %d published reminders as sent", phase.name, got, len(ops))
			}
			rs.mu.Unlock()
			for _, op := range ops {
				sent, unsent, err := e.sentRecord(ids[op])
				if err != nil {
					t.Errorf("%s, %s: read the record of sent reminders: %v", phase.name, op, err)
				} else if len(sent) != 1 || !sent[0].Equal(past) || unsent != 0 {
					t.Errorf("%s, %s: recorded sent %v (%d listed, unsent), want exactly [%s]", phase.name, op, sent, unsent, past)
				}
				eventually(t, 30*time.Second, op+": the reminder reaches the inbox", func() bool { return len(e.inboxFor(ids[op])) > 0 })
				if got := e.inboxFor(ids[op]); len(got) != 1 || got[0].ID != eventID(op) {
					t.Errorf("%s, %s: inbox %+v, want exactly the entry %s", phase.name, op, got, eventID(op))
				}
			}
		}()
	}
}

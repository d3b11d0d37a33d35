package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
)

// relayActive reads the instance's todo_outbox_relay_active gauge: whether
// its outbox relay holds the lock.
func relayActive(inst *devstack.Instance) (bool, error) {
	resp, err := http.Get(inst.MetricsURL())
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "todo_outbox_relay_active "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, fmt.Errorf("%s has no todo_outbox_relay_active", inst.MetricsURL())
}

// leaderOf waits until exactly one of the instances is the active relay.
func leaderOf(t *testing.T, insts ...*devstack.Instance) (leader *devstack.Instance, others []*devstack.Instance) {
	t.Helper()
	eventually(t, 30*time.Second, "exactly one todo-api replica is the active relay", func() bool {
		leader, others = nil, nil
		for _, inst := range insts {
			active, err := relayActive(inst)
			if err != nil {
				return false
			}
			if !active {
				others = append(others, inst)
				continue
			}
			if leader != nil {
				return false
			}
			leader = inst
		}
		return leader != nil
	})
	return leader, others
}

// With two todo-api replicas, each with its own sidecar, killing the active
// relay's sidecar lets the other replica publish: the events written
// through either replica afterwards reach a subscriber within 15 s of the
// kill, each once and in order (env.inOrder), and nothing stays in the outbox. Before, the
// leader kept the advisory lock while every publish failed, and nothing
// flowed until its sidecar came back.
func TestRelayFailsOverWhenLeaderSidecarDies(t *testing.T) {
	const bound = 15 * time.Second // the requirement
	e := startSystem(t, "todo-api")
	app, _ := devstack.AppByID("todo-api")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	second, err := e.sys.StartInstance(ctx, app, "todo-api#2")
	if err != nil {
		t.Fatalf("start a second todo-api replica: %v", err)
	}
	replicas := []*devstack.Instance{e.sys.Instances["todo-api"], second}
	sub := e.startViewer("task-events")

	// Both replicas take writes and the relay works before the kill.
	for _, r := range replicas {
		tk, err := e.clientAt(r.URL()).CreateTask(t.Context(), client.NewTask{Title: "before the kill"})
		e.ok("create through "+r.Name, err)
		eventually(t, 60*time.Second, "a task written before the kill is delivered", func() bool { return len(sub.forTask(tk.ID)) == 1 })
	}
	leader, others := leaderOf(t, replicas...)
	standby := others[0]
	t.Logf("leader %s, standby %s", leader.Name, standby.Name)

	leader.Daprd.Kill()
	killed := time.Now()
	var tasks []client.Task
	for i := range 6 {
		r := e.clientAt(replicas[i%2].URL()) // through either replica
		tk, err := r.CreateTask(t.Context(), client.NewTask{Title: fmt.Sprintf("after the kill %d", i)})
		e.ok("create", err)
		_, err = r.CompleteTask(t.Context(), tk.ID)
		e.ok("complete", err)
		tasks = append(tasks, tk)
	}
	delivered := func() bool {
		for _, tk := range tasks {
			if len(sub.forTask(tk.ID)) < 2 {
				return false
			}
		}
		return true
	}
	for !delivered() {
		if time.Since(killed) > bound {
			t.Fatalf("events written after the leader's sidecar died were not all delivered within %s", bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("leader's sidecar killed; every event written afterwards delivered %s later (bound %s)", took.Round(time.Millisecond), bound)

	time.Sleep(2 * time.Second) // let any duplicate arrive before counting
	for _, tk := range tasks {
		got := e.inOrder(sub.forTask(tk.ID))
		if len(got) != 2 || got[0].Data["event_type"] != "TaskCreated" || got[1].Data["event_type"] != "TaskCompleted" {
			t.Errorf("task %d: %d deliveries, want TaskCreated then TaskCompleted once each", tk.ID, len(got))
		}
	}
	if n := sub.count(); n != 2+2*len(tasks) {
		t.Errorf("subscriber got %d events in all, want %d", n, 2+2*len(tasks))
	}
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var unpublished, republished int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FILTER (WHERE publish_count > 1) FROM outbox`).Scan(&unpublished, &republished); err != nil {
		t.Fatal(err)
	}
	if unpublished != 0 || republished != 0 {
		t.Errorf("outbox: %d unpublished, %d published more than once", unpublished, republished)
	}
	if active, err := relayActive(standby); err != nil || !active {
		t.Errorf("the standby %s is not the active relay after the failover (%v)", standby.Name, err)
	}
}

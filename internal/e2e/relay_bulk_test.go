package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// maximalTask is a task with every text field at its limit, in the
// character that weighs most in a bulk publish request: '<' is one byte in
// the outbox and six (\u003c) once the request is encoded.
func maximalTask(i int) client.NewTask {
	tags := make([]string, task.MaxTags)
	for j := range tags {
		tags[j] = fmt.Sprintf("%02d", j) + strings.Repeat("<", task.MaxTagLen-2)
	}
	return client.NewTask{Title: fmt.Sprintf("%04d", i) + strings.Repeat("<", task.MaxTitleLen-4),
		Description: strings.Repeat("<", task.MaxDescriptionLen), Tags: tags}
}

// At the largest OUTBOX_BATCH_SIZE, a backlog of maximal events (some 30 MiB
// as bulk requests) flows through the real daprd to a subscriber, each event
// once. Before, the relay sent the whole batch as one bulk request, over
// daprd's 4 MiB body limit, and retried that same request forever: nothing
// flowed.
func TestMaximalEventsFlowAtLargestBatchSize(t *testing.T) {
	const n = 1000 // OUTBOX_BATCH_SIZE's largest value
	e := startSystem(t, "todo-api")
	sub := e.startViewer("task-events")
	api := e.sys.Instances["todo-api"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The largest batch, and no write rate limit for this one user.
	api.Proc.Stop(10 * time.Second)
	e.sys.Cfg.AppEnv = append(e.sys.Cfg.AppEnv, fmt.Sprintf("OUTBOX_BATCH_SIZE=%d", n), "RATE_LIMIT_WRITES_PER_SECOND=0")
	if err := e.sys.StartAppProcess(ctx, api); err != nil {
		t.Fatal(err)
	}
	// A backlog: with the sidecar down, the relay reads it in full batches
	// once the sidecar is back.
	api.Daprd.Kill()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = e.create(maximalTask(i)).ID
	}
	start := time.Now()
	if err := e.sys.StartDaprd(ctx, api); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pending int
	eventually(t, 3*time.Minute, "the subscriber has every maximal event", func() bool {
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&pending)
		return pending == 0 && sub.count() >= n
	})
	t.Logf("%d maximal events published and delivered %s after the sidecar came back", n, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // let any duplicate arrive before counting
	for _, id := range ids {
		got := sub.forTask(id)
		if len(got) != 1 || got[0].Data["event_type"] != "TaskCreated" || len(got[0].Data["description"].(string)) != task.MaxDescriptionLen {
			t.Fatalf("task %d: %d deliveries, want its TaskCreated with the whole description once", id, len(got))
		}
	}
	var republished, attempts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE publish_count > 1), max(attempts) FROM outbox`).Scan(&republished, &attempts); err != nil {
		t.Fatal(err)
	}
	if republished != 0 {
		t.Errorf("%d events published more than once", republished)
	}
	t.Logf("subscriber got %d events; most publish attempts for one event %d (failures while the sidecar was down)", sub.count(), attempts)
}

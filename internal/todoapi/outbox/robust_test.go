package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// MaximalPatch is a task with every text field at its limit, in the
// character that weighs most in a bulk request: '<' is one byte in the
// outbox and six (\u003c) once the request is encoded.
func maximalPatch(i int) task.Patch {
	tags := make([]string, task.MaxTags)
	for j := range tags {
		tags[j] = fmt.Sprintf("%02d", j) + strings.Repeat("<", task.MaxTagLen-2)
	}
	title := fmt.Sprintf("%04d", i) + strings.Repeat("<", task.MaxTitleLen-4)
	return task.Patch{Title: task.Some(title), Description: task.Some(strings.Repeat("<", task.MaxDescriptionLen)), Tags: task.Some(tags)}
}

// With the largest batch size and maximal events, no bulk request exceeds
// dapr.MaxBulkBytes, and every event is still published once, in order.
// Before, the relay put the whole batch (here some 30 MiB) in one request,
// which daprd refuses with 413, again and again.
func TestRelayBoundsBulksByBytes(t *testing.T) {
	const n = 1000 // OUTBOX_BATCH_SIZE's largest value
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	ctx := context.Background()
	for i := range n {
		if _, err := s.CreateTask(ctx, "alice", maximalPatch(i)); err != nil {
			t.Fatal(err)
		}
	}
	pub := &recorder{}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r := outbox.New(pool, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), outbox.Config{
		PubSub: "kafka-pubsub", PollInterval: time.Hour, BatchSize: n,
	})
	go func() { defer close(done); _ = r.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })

	eventually(t, "every event is published", func() bool { _, pending, _ := pendingIDs(t, pool); return pending == 0 })
	all, _, maxCount := pendingIDs(t, pool)
	if got := pub.published(); len(all) != n || !slices.Equal(got, all) || maxCount != 1 {
		t.Fatalf("published %d of %d events (max count %d), want each once in outbox order", len(got), len(all), maxCount)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	t.Logf("%d maximal events in %d bulks: largest request %d bytes (%d entries), bound %d", n, pub.bulks, pub.maxRequest, pub.maxEntries, dapr.MaxBulkBytes)
	if pub.maxRequest > dapr.MaxBulkBytes {
		t.Errorf("a bulk request of %d bytes, over dapr.MaxBulkBytes (%d)", pub.maxRequest, dapr.MaxBulkBytes)
	}
	// The bound must not cost batching: a bulk still takes as many as fit.
	if pub.maxEntries < dapr.MaxBulkBytes/(pub.maxRequest/pub.maxEntries)-1 {
		t.Errorf("at most %d entries per bulk: the byte bound is not filled", pub.maxEntries)
	}
}

// A leader whose publishes keep failing (its own sidecar is down) gives up
// the lock, and a standby whose sidecar works takes over and publishes
// everything, once and in order. Before, the failing leader kept the lock for
// good and nothing was published.
func TestFailingLeaderStepsDown(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := outbox.Config{PubSub: "kafka-pubsub", PollInterval: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond, StepDownAfter: 300 * time.Millisecond, BatchSize: 3}
	run := func(pub outbox.Publisher) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = outbox.New(pool, pub, log, cfg).Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	broken, healthy := &recorder{failing: true}, &recorder{}
	makeChanges(t, s, 1)
	run(broken)
	eventually(t, "the broken relay leads and fails", func() bool {
		broken.mu.Lock()
		defer broken.mu.Unlock()
		return broken.calls > 0
	})
	run(healthy)
	makeChanges(t, s, 5)

	eventually(t, "every event is published", func() bool { _, p, _ := pendingIDs(t, pool); return p == 0 })
	all, _, maxCount := pendingIDs(t, pool)
	if got := healthy.published(); !slices.Equal(got, all) || maxCount != 1 {
		t.Errorf("the standby published %v (max count %d), want each of %v once, in order", got, maxCount, all)
	}
	if got := broken.published(); len(got) != 0 {
		t.Errorf("the broken relay published %v", got)
	}
}

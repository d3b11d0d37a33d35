package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// recorder is a Publisher that records what it is given and fails while
// failing is set. It stands in for the sidecar in these storage-level tests;
// the end-to-end tests use the real daprd.
type recorder struct {
	mu      sync.Mutex
	failing bool
	calls   int
	bulks   int
	ids     []string
	keys    []string
	// sameTaskInOneBulk is set when one bulk held two events of a task.
	sameTaskInOneBulk bool
	// maxRequest is the largest bulk request, in bytes as the sidecar would
	// read it; maxEntries the most entries in one.
	maxRequest, maxEntries int
}

func (r *recorder) BulkPublishCloudEvents(_ context.Context, pubsub, topic string, entries []dapr.BulkEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failing {
		return errors.New("sidecar unavailable")
	}
	if pubsub != "kafka-pubsub" || topic != "task-events" {
		return errors.New("wrong pubsub or topic: " + pubsub + "/" + topic)
	}
	size := 1
	for _, e := range entries {
		size += dapr.BulkSize(e)
	}
	r.maxRequest = max(r.maxRequest, size)
	r.maxEntries = max(r.maxEntries, len(entries))
	seen := map[string]bool{}
	for _, e := range entries {
		var ce struct{ ID string }
		if err := json.Unmarshal(e.Event, &ce); err != nil {
			return err
		}
		if ce.ID != e.ID {
			return errors.New("entry id differs from the CloudEvent id")
		}
		key := e.Metadata["partitionKey"]
		if seen[key] {
			r.sameTaskInOneBulk = true
		}
		seen[key] = true
		r.ids = append(r.ids, ce.ID)
		r.keys = append(r.keys, key)
	}
	r.bulks++
	return nil
}

func (r *recorder) setFailing(f bool) { r.mu.Lock(); r.failing = f; r.mu.Unlock() }

func (r *recorder) published() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func startRelay(t *testing.T, pool *pgxpool.Pool, pub outbox.Publisher, poll time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := outbox.New(pool, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), outbox.Config{
		PubSub: "kafka-pubsub", PollInterval: poll, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, BatchSize: 3,
	})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func pendingIDs(t *testing.T, pool *pgxpool.Pool) (all []string, pending int, maxCount int) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id::text, published_at IS NULL, publish_count FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p bool
		var n int
		if err := rows.Scan(&id, &p, &n); err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
		if p {
			pending++
		}
		maxCount = max(maxCount, n)
	}
	return all, pending, maxCount
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func makeChanges(t *testing.T, s *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("t")})
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := s.CompleteTask(ctx, "alice", tk.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRelayPublishesInOrderOnce(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	pub := &recorder{}
	makeChanges(t, s, 4) // 6 events, more than one batch of 3
	// A long poll interval: only LISTEN/NOTIFY or the start-up drain can
	// publish what is written after start.
	startRelay(t, pool, pub, time.Hour)
	makeChanges(t, s, 3)

	eventually(t, "every event is published", func() bool { _, pending, _ := pendingIDs(t, pool); return pending == 0 })
	all, _, maxCount := pendingIDs(t, pool)
	if len(all) != 11 {
		t.Fatalf("outbox has %d rows, want 11", len(all))
	}
	if got := pub.published(); !slices.Equal(got, all) {
		t.Errorf("published %v\nwant in outbox order %v", got, all)
	}
	if maxCount != 1 {
		t.Errorf("an event was marked published %d times", maxCount)
	}
	if pub.sameTaskInOneBulk {
		t.Error("a bulk publish held two events of one task")
	}
	if pub.bulks >= len(all) {
		t.Errorf("%d bulk publishes for %d events: not batching", pub.bulks, len(all))
	}
}

func TestRelayRetriesWithoutLosingOrSkipping(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	pub := &recorder{failing: true}
	startRelay(t, pool, pub, 50*time.Millisecond)
	makeChanges(t, s, 3)

	eventually(t, "the relay has tried and failed", func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.calls >= 3
	})
	if got := pub.published(); len(got) != 0 {
		t.Fatalf("published while the sidecar was failing: %v", got)
	}
	var attempts int
	if err := pool.QueryRow(context.Background(), `SELECT max(attempts) FROM outbox WHERE last_error IS NOT NULL`).Scan(&attempts); err != nil || attempts < 1 {
		t.Errorf("failures not recorded: attempts %d, %v", attempts, err)
	}
	_, pending, _ := pendingIDs(t, pool)
	if pending != 5 {
		t.Fatalf("pending = %d, want 5", pending)
	}

	pub.setFailing(false)
	eventually(t, "the backlog is published", func() bool { _, p, _ := pendingIDs(t, pool); return p == 0 })
	all, _, maxCount := pendingIDs(t, pool)
	if got := pub.published(); !slices.Equal(got, all) || maxCount != 1 {
		t.Errorf("published %v (max count %d), want each of %v once, in order", got, maxCount, all)
	}
}

func TestOnlyOneRelayIsActive(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	a, b := &recorder{}, &recorder{}
	startRelay(t, pool, a, 50*time.Millisecond)
	startRelay(t, pool, b, 50*time.Millisecond)
	makeChanges(t, s, 10)
	eventually(t, "every event is published", func() bool { _, p, _ := pendingIDs(t, pool); return p == 0 })
	all, _, _ := pendingIDs(t, pool)
	pa, pb := a.published(), b.published()
	if len(pa)+len(pb) != len(all) || (len(pa) > 0 && len(pb) > 0) {
		t.Errorf("relay a published %d, relay b %d; want all %d by one of them", len(pa), len(pb), len(all))
	}
}

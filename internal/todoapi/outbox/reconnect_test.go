package outbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// relayBackend is the pid of the relay's own connection (the one that holds
// the advisory lock and LISTENs), found by the application_name the relay
// sets on it.
func relayBackend(ctx context.Context, pool *pgxpool.Pool) (int32, error) {
	var pid int32
	err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, outbox.ApplicationName).Scan(&pid)
	return pid, err
}

// A lost database connection, however many came before it, costs the relay
// well under a second once its connection had been healthy for a while: the
// reconnect backoff starts over. Before, it grew with every loss in the
// process's life (200 ms, 400 ms, ... 30 s) and never came back down.
func TestRelayRecoversFromEachLostConnection(t *testing.T) {
	const (
		kills        = 20
		healthyAfter = 500 * time.Millisecond
		bound        = time.Second // the requirement for each recovery
	)
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	pub := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// The production backoff (200 ms doubling to 30 s); a long poll interval,
	// so that only the relay's own reconnect and drain can publish.
	r := outbox.New(pool, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), outbox.Config{
		PubSub: "kafka-pubsub", PollInterval: time.Hour, HealthyAfter: healthyAfter,
	})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	write := func() string {
		t.Helper()
		tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("t")})
		if err != nil {
			t.Fatal(err)
		}
		var id string
		if err := pool.QueryRow(ctx, `SELECT id::text FROM outbox WHERE partition_key = $1`, strconv.FormatInt(tk.ID, 10)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	published := func(id string) bool {
		var ok bool
		err := pool.QueryRow(ctx, `SELECT published_at IS NOT NULL FROM outbox WHERE id = $1`, id).Scan(&ok)
		return err == nil && ok
	}
	first := write()
	eventually(t, "the first event is published", func() bool { return published(first) })

	var took []time.Duration
	for i := range kills {
		// A healthy period: the relay's connection has been up at least this long.
		time.Sleep(healthyAfter + 100*time.Millisecond)
		pid, err := relayBackend(ctx, pool)
		if err != nil {
			t.Fatalf("kill %d: the relay's connection is not in pg_stat_activity as %q: %v", i+1, outbox.ApplicationName, err)
		}
		var killed bool
		if err := pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
			t.Fatalf("kill %d: pg_terminate_backend(%d) = %v, %v", i+1, pid, killed, err)
		}
		start := time.Now()
		id := write()
		for !published(id) {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("kill %d: the write after it was not published within 20s (recoveries so far %v)", i+1, took)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		// The old backend is gone, the new one is a different process.
		if next, err := relayBackend(ctx, pool); err == nil && next == pid {
			t.Fatalf("kill %d: the relay still uses backend %d", i+1, pid)
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
	}
	var worst, sum time.Duration
	for _, d := range took {
		worst = max(worst, d)
		sum += d
	}
	t.Logf("%d connection kills: recovery (kill -> next write published) mean %s, max %s; each: %v",
		len(took), (sum / time.Duration(len(took))).Round(time.Millisecond), worst.Round(time.Millisecond), roundAll(took))
	for i, d := range took {
		if d >= bound {
			t.Errorf("recovery after kill %d took %s, want under %s", i+1, d.Round(time.Millisecond), bound)
		}
	}
	_, pending, maxCount := pendingIDs(t, pool)
	if pending != 0 || maxCount != 1 {
		t.Errorf("after the kills: %d events pending, an event published %d times; want 0 and 1", pending, maxCount)
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

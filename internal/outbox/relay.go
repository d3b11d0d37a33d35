// Package outbox relays the events that todo-api's transactions write to the
// outbox table to the broker, through the Dapr sidecar.
//
// Guarantees: an event is marked published only after the sidecar accepted
// it (any 2xx), so none is lost; a crash between publish and mark publishes it
// again, so delivery is at-least-once and consumers dedupe on the CloudEvent
// id. Rows are published in seq order by one relay at a time (a PostgreSQL
// advisory lock elects it among todo-api replicas), and a failed row stops
// the batch, so each task's events keep their order.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/store"
)

// Publisher sends CloudEvents to a topic in one call. It must return nil
// only when every event was accepted, and be safe for concurrent use.
type Publisher interface {
	BulkPublishCloudEvents(ctx context.Context, pubsub, topic string, entries []dapr.BulkEntry) error
}

// lockKey is the advisory lock that elects the active relay.
const lockKey int64 = 0x746f646f5f6f7478 // "todo_otx"

// Config tunes a Relay. Zero values take the defaults.
type Config struct {
	PubSub       string        // Dapr pub/sub component name
	BatchSize    int           // rows read per round (default 100)
	PollInterval time.Duration // safety-net poll when no NOTIFY arrives (default 5s)
	MinBackoff   time.Duration // first wait after a failed publish (default 200ms)
	MaxBackoff   time.Duration // longest wait between retries (default 30s)
	Retention    time.Duration // how long published rows are kept (default 24h)
}

// Relay publishes pending outbox rows.
type Relay struct {
	pool    *pgxpool.Pool
	pub     Publisher
	log     *slog.Logger
	cfg     Config
	metrics *Metrics
}

// Metrics count the relay's work. The backlog and the age of the oldest
// pending event are read from the table when Prometheus scrapes.
type Metrics struct {
	Published prometheus.Counter
	Failures  prometheus.Counter
}

// NewMetrics registers the relay's metrics on reg, including the backlog
// gauges, which query pool at scrape time.
func NewMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) *Metrics {
	m := &Metrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "todo_outbox_published_total", Help: "Outbox events published through the sidecar.",
		}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "todo_outbox_publish_failures_total", Help: "Publish attempts the sidecar refused or that failed.",
		}),
	}
	backlog := func() (n float64, age float64) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = pool.QueryRow(ctx, `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
			FROM outbox WHERE published_at IS NULL`).Scan(&n, &age)
		return n, age
	}
	reg.MustRegister(m.Published, m.Failures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "todo_outbox_backlog", Help: "Events committed but not yet published.",
		}, func() float64 { n, _ := backlog(); return n }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "todo_outbox_lag_seconds", Help: "Age of the oldest unpublished event (0 when none).",
		}, func() float64 { _, age := backlog(); return age }),
	)
	return m
}

// WithMetrics makes the relay count its work in m.
func (r *Relay) WithMetrics(m *Metrics) *Relay { r.metrics = m; return r }

// New returns a Relay. Call Run to start it.
func New(pool *pgxpool.Pool, pub Publisher, log *slog.Logger, cfg Config) *Relay {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	return &Relay{pool: pool, pub: pub, log: log, cfg: cfg}
}

// Run relays until ctx is done. It returns nil on cancellation; database
// trouble is logged and retried, never returned.
func (r *Relay) Run(ctx context.Context) error {
	wait := r.cfg.MinBackoff
	for {
		if err := r.lead(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay: database connection lost, retrying", "err", err, "in", wait)
		}
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(wait*2, r.cfg.MaxBackoff)
	}
}

// lead holds one connection: it waits to become the active relay, then
// listens for new rows and publishes them until the connection fails.
func (r *Relay) lead(ctx context.Context) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// The session lock lives as long as this connection: destroy it rather
	// than returning it to the pool.
	defer func() { _ = conn.Hijack().Close(context.WithoutCancel(ctx)) }()

	for standby := false; ; standby = true {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&got); err != nil {
			return fmt.Errorf("advisory lock: %w", err)
		}
		if got {
			break
		}
		if !standby {
			r.log.Info("outbox relay: another todo-api instance is relaying; standing by")
		}
		if !sleep(ctx, r.cfg.PollInterval) {
			return nil
		}
	}
	if _, err := conn.Exec(ctx, `LISTEN `+store.OutboxChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.log.Info("outbox relay: active")

	backoff := r.cfg.MinBackoff
	lastCleanup := time.Time{}
	for {
		_, full, err := r.drain(ctx, conn.Conn())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !errors.As(err, new(*publishFailed)):
			return err
		case err != nil:
			r.log.Error("outbox relay: publish failed, will retry", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, r.cfg.MaxBackoff)
			continue
		}
		backoff = r.cfg.MinBackoff
		if full {
			continue
		}
		if time.Since(lastCleanup) > time.Hour {
			r.cleanup(ctx, conn.Conn())
			lastCleanup = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, r.cfg.PollInterval)
		_, err = conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

type row struct {
	seq       int64
	id        string
	topic     string
	key       string
	eventType string
	body      []byte
}

// drain publishes one batch of pending rows in order. It returns how many
// were published and whether the batch was full (more may be waiting).
func (r *Relay) drain(ctx context.Context, conn *pgx.Conn) (int, bool, error) {
	rows, err := conn.Query(ctx, `SELECT seq, id::text, topic, partition_key, event_type, cloudevent::text
		FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1`, r.cfg.BatchSize)
	if err != nil {
		return 0, false, fmt.Errorf("read outbox: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(cr pgx.CollectableRow) (row, error) {
		var x row
		var body string
		err := cr.Scan(&x.seq, &x.id, &x.topic, &x.key, &x.eventType, &body)
		x.body = []byte(body)
		return x, err
	})
	if err != nil {
		return 0, false, fmt.Errorf("read outbox: %w", err)
	}
	if len(batch) == 0 {
		return 0, false, nil
	}
	// One bulk publish holds at most one event per task (and one topic): a
	// partial failure retried as a whole can then never put a task's later
	// event before its earlier one. The next event of a task waits for the
	// next bulk, which starts only once this one was accepted.
	chunk := batch[:0:0]
	keys := map[string]bool{}
	for _, x := range batch {
		if keys[x.key] || x.topic != batch[0].topic {
			break
		}
		keys[x.key] = true
		chunk = append(chunk, x)
	}
	entries := make([]dapr.BulkEntry, len(chunk))
	done := make([]int64, len(chunk))
	for i, x := range chunk {
		entries[i] = dapr.BulkEntry{ID: x.id, Event: x.body, Metadata: map[string]string{"partitionKey": x.key}}
		done[i] = x.seq
	}
	if err := r.pub.BulkPublishCloudEvents(ctx, r.cfg.PubSub, chunk[0].topic, entries); err != nil {
		if r.metrics != nil {
			r.metrics.Failures.Inc()
		}
		if _, uerr := conn.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1)`,
			done, truncate(err.Error(), 1000)); uerr != nil {
			return 0, false, fmt.Errorf("record failure: %w", uerr)
		}
		return 0, false, &publishFailed{fmt.Errorf("%d events from seq %d: %w", len(chunk), chunk[0].seq, err)}
	}
	if _, err := conn.Exec(ctx, `UPDATE outbox SET published_at = now(), publish_count = publish_count + 1,
		attempts = attempts + 1, last_error = NULL WHERE seq = ANY($1)`, done); err != nil {
		return 0, false, fmt.Errorf("mark published: %w", err)
	}
	if r.metrics != nil {
		r.metrics.Published.Add(float64(len(done)))
	}
	for _, x := range chunk {
		r.log.Info("event published", "event_id", x.id, "event_type", x.eventType, "topic", x.topic, "task_id", x.key)
	}
	// More may be waiting: the rest of this batch, or more rows.
	return len(done), len(chunk) < len(batch) || len(batch) == r.cfg.BatchSize, nil
}

func (r *Relay) cleanup(ctx context.Context, conn *pgx.Conn) {
	tag, err := conn.Exec(ctx, `DELETE FROM outbox WHERE published_at < now() - $1::interval`,
		fmt.Sprintf("%d seconds", int64(r.cfg.Retention/time.Second)))
	if err != nil {
		r.log.Warn("outbox relay: cleanup failed", "err", err)
		return
	}
	if n := tag.RowsAffected(); n > 0 {
		r.log.Info("outbox relay: removed published events past retention", "rows", n)
	}
}

// publishFailed is a sidecar refusal, as opposed to a database error: the
// relay keeps its connection and retries the same row after a backoff.
type publishFailed struct{ err error }

func (e *publishFailed) Error() string { return e.err.Error() }
func (e *publishFailed) Unwrap() error { return e.err }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

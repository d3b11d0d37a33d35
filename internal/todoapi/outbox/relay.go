package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/evolution-todo/todo/internal/dapr"
)

// Publisher sends CloudEvents to a topic in one call. It must return nil
// only when every event was accepted, and be safe for concurrent use.
type Publisher interface {
	BulkPublishCloudEvents(ctx context.Context, pubsub, topic string, entries []dapr.BulkEntry) error
}

// lockKey is the advisory lock that elects the active relay.
const lockKey int64 = 0x746f646f5f6f7478 // "todo_otx"

// ApplicationName is the application_name of the relay's connection (the one
// that holds the lock and LISTENs), so that operators find it in
// pg_stat_activity.
const ApplicationName = "todo-outbox-relay"

// errStepDown ends a leadership whose publishes kept failing.
var errStepDown = errors.New("outbox relay: publishing has failed for too long; stepping down")

// Config tunes a Relay. Zero values take the defaults.
type Config struct {
	PubSub       string        // Dapr pub/sub component name
	BatchSize    int           // rows read per round (default 100)
	PollInterval time.Duration // safety-net poll when no NOTIFY arrives (default 5s)
	MinBackoff   time.Duration // first wait after a failed publish (default 200ms)
	MaxBackoff   time.Duration // longest wait between retries (default 30s)
	Retention    time.Duration // how long published rows are kept (default 24h)
	// HealthyAfter is how long a database connection must have stayed up
	// for its loss to restart the reconnect backoff at MinBackoff (default
	// 5s). Connections that fail sooner make the backoff grow.
	HealthyAfter time.Duration
	// StepDownAfter is how long publishes may fail without a break before
	// the active relay releases the lock (default 5s), and StepDownFor how
	// long it then leaves the lock to the standbys, which try it every
	// PollInterval (default 2 × PollInterval).
	StepDownAfter time.Duration
	StepDownFor   time.Duration
	// MaxBulkBytes bounds one bulk publish request (default and at most
	// dapr.MaxBulkBytes). A single event larger than it goes alone.
	MaxBulkBytes int
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
	Active    prometheus.Gauge   // 1 while this instance holds the lock
	StepDowns prometheus.Counter // leaderships given up because publishing kept failing
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
		Active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "todo_outbox_relay_active", Help: "1 while this instance is the active relay (holds the outbox lock).",
		}),
		StepDowns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "todo_outbox_relay_step_downs_total", Help: "Times this relay gave up the lock because its publishes kept failing.",
		}),
	}
	backlog := func() (n float64, age float64) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = pool.QueryRow(ctx, `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
			FROM outbox WHERE published_at IS NULL`).Scan(&n, &age)
		return n, age
	}
	reg.MustRegister(m.Published, m.Failures, m.Active, m.StepDowns,
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
	if cfg.HealthyAfter <= 0 {
		cfg.HealthyAfter = 5 * time.Second
	}
	if cfg.StepDownAfter <= 0 {
		cfg.StepDownAfter = 5 * time.Second
	}
	if cfg.StepDownFor <= 0 {
		cfg.StepDownFor = 2 * cfg.PollInterval
	}
	if cfg.MaxBulkBytes <= 0 || cfg.MaxBulkBytes > dapr.MaxBulkBytes {
		cfg.MaxBulkBytes = dapr.MaxBulkBytes
	}
	return &Relay{pool: pool, pub: pub, log: log, cfg: cfg}
}

// newBackoff is an exponential backoff from MinBackoff to MaxBackoff,
// doubling, with some jitter so that replicas do not retry in step.
func (r *Relay) newBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval: r.cfg.MinBackoff, RandomizationFactor: 0.2, Multiplier: 2, MaxInterval: r.cfg.MaxBackoff,
	}
}

// Run relays until ctx is done. It returns nil on cancellation; database
// trouble is logged and retried, never returned.
func (r *Relay) Run(ctx context.Context) error {
	reconnect := r.newBackoff()
	for {
		up, err := r.lead(ctx)
		select {
		case <-ctx.Done():
			return nil // canceled: whatever lead ran into is moot
		default:
		}
		var wait time.Duration
		switch {
		case errors.Is(err, errStepDown):
			// Not the database's fault: the connection (and the lock) were
			// given up on purpose. Leave the lock to the standbys for a while.
			reconnect.Reset()
			wait = r.cfg.StepDownFor
			r.log.Warn("outbox relay: stepped down, leaving the lock to the other instances", "for", wait)
		default:
			// A connection that was healthy for a while was lost: start
			// over, as for the first loss. Only connections that keep
			// failing soon make the wait grow.
			if up >= r.cfg.HealthyAfter {
				reconnect.Reset()
			}
			wait = reconnect.NextBackOff()
			r.log.Warn("outbox relay: database connection lost, retrying", "err", err, "in", wait, "was_up", up)
		}
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// lead holds one connection: it waits to become the active relay, then
// listens for new rows and publishes them until the connection fails or
// publishing has failed for StepDownAfter. It returns how long the
// connection was up and why it ended.
func (r *Relay) lead(ctx context.Context) (up time.Duration, err error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquire: %w", err)
	}
	// The session lock lives as long as this connection: destroy it rather
	// than returning it to the pool.
	defer func() { _ = conn.Hijack().Close(context.WithoutCancel(ctx)) }()
	connected := time.Now()
	defer func() { up = time.Since(connected) }()
	if _, err := conn.Exec(ctx, `SELECT set_config('application_name', $1, false)`, ApplicationName); err != nil {
		return 0, fmt.Errorf("set application_name: %w", err)
	}
	return 0, r.leadOn(ctx, conn.Conn())
}

func (r *Relay) leadOn(ctx context.Context, conn *pgx.Conn) error {

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
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.log.Info("outbox relay: active")
	if r.metrics != nil {
		r.metrics.Active.Set(1)
		defer r.metrics.Active.Set(0)
	}

	retry := r.newBackoff()
	var failingSince time.Time // start of the current run of failed publishes
	lastCleanup := time.Time{}
	for {
		_, full, err := r.drain(ctx, conn)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !errors.As(err, new(*publishFailed)):
			return err
		case err != nil:
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			// A relay that cannot publish (its own sidecar is down, say) must
			// not keep the lock from standbys that may be able to.
			if failing := time.Since(failingSince); failing >= r.cfg.StepDownAfter {
				r.log.Error("outbox relay: publishing keeps failing; releasing the lock", "err", err, "failing_for", failing)
				if r.metrics != nil {
					r.metrics.StepDowns.Inc()
				}
				return errStepDown
			}
			// The last retry comes when StepDownAfter is up, not a whole
			// backoff later.
			wait := min(retry.NextBackOff(), r.cfg.StepDownAfter-time.Since(failingSince))
			r.log.Error("outbox relay: publish failed, will retry", "err", err, "in", wait)
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		retry.Reset()
		failingSince = time.Time{}
		if full {
			continue
		}
		if time.Since(lastCleanup) > time.Hour {
			r.cleanup(ctx, conn)
			lastCleanup = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, r.cfg.PollInterval)
		_, err = conn.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// drain publishes one batch of pending rows in order. It returns how many
// were published and whether the batch was full (more may be waiting).
func (r *Relay) drain(ctx context.Context, conn *pgx.Conn) (int, bool, error) {
	// Each committed write sends a NOTIFY, and those that arrived during
	// the last round wait in the connection's buffer. Their rows were
	// committed before the read below starts, so the read sees them: one
	// read serves them all instead of one (mostly empty) read each.
	discardNotifications(ctx, conn)
	batch, err := Pending(ctx, conn, r.cfg.BatchSize)
	if err != nil {
		return 0, false, err
	}
	if len(batch) == 0 {
		return 0, false, nil
	}
	// One bulk publish holds at most one event per task (and one topic): a
	// partial failure retried as a whole can then never put a task's later
	// event before its earlier one. The next event of a task waits for the
	// next bulk, which starts only once this one was accepted. A bulk also
	// stays under MaxBulkBytes, which the sidecar would refuse, whatever
	// the batch size; its first event always goes.
	chunk := batch[:0:0]
	var entries []dapr.BulkEntry
	keys := map[string]bool{}
	size := 1 // the request's opening bracket
	for _, x := range batch {
		if keys[x.Key] || x.Topic != batch[0].Topic {
			break
		}
		e := dapr.BulkEntry{ID: x.ID, Event: x.CloudEvent, Metadata: map[string]string{"partitionKey": x.Key}}
		n := dapr.BulkSize(e)
		if len(chunk) > 0 && size+n > r.cfg.MaxBulkBytes {
			break
		}
		size += n
		keys[x.Key] = true
		chunk = append(chunk, x)
		entries = append(entries, e)
	}
	done := make([]int64, len(chunk))
	for i, x := range chunk {
		done[i] = x.Seq
	}
	if err := r.pub.BulkPublishCloudEvents(ctx, r.cfg.PubSub, chunk[0].Topic, entries); err != nil {
		if r.metrics != nil {
			r.metrics.Failures.Inc()
		}
		if _, uerr := conn.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = ANY($1)`,
			done, truncate(err.Error(), 1000)); uerr != nil {
			return 0, false, fmt.Errorf("record failure: %w", uerr)
		}
		return 0, false, &publishFailed{fmt.Errorf("%d events from seq %d: %w", len(chunk), chunk[0].Seq, err)}
	}
	if _, err := conn.Exec(ctx, `UPDATE outbox SET published_at = now(), publish_count = publish_count + 1,
		attempts = attempts + 1, last_error = NULL WHERE seq = ANY($1)`, done); err != nil {
		return 0, false, fmt.Errorf("mark published: %w", err)
	}
	if r.metrics != nil {
		r.metrics.Published.Add(float64(len(done)))
	}
	for _, x := range chunk {
		r.log.Info("event published", "event_id", x.ID, "event_type", x.Type, "topic", x.Topic, "task_id", x.Key)
	}
	// More may be waiting: the rest of this batch, or more rows.
	return len(done), len(chunk) < len(batch) || len(batch) == r.cfg.BatchSize, nil
}

// discardNotifications drops the notifications conn has already received,
// without waiting for more: pgx returns a buffered one before it looks at
// the context, and returns at once on a done context, without a read.
func discardNotifications(ctx context.Context, conn *pgx.Conn) {
	done, cancel := context.WithCancel(ctx)
	cancel()
	for {
		if n, _ := conn.WaitForNotification(done); n == nil {
			return
		}
	}
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

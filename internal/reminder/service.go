// Package reminder is the reminder service: on every tick of the
// reminder-cron input binding it asks todo-api for the tasks whose reminder
// time has passed, publishes one ReminderDue per task to the reminders topic
// and then marks it sent.
//
// Exactly once: the event id is derived from (task, reminder_at), so a sweep
// that crashes after publishing, two overlapping sweeps or two replicas
// publish the same id again and the notification service keeps one. A
// reminder is marked sent only after its publish succeeded, so none is lost.
// Listing a reminder claims it in todo-api: it is listed again until it is
// marked, even if its task is completed, deleted or its reminder changed in
// between, so a reminder whose publish was accepted always ends up recorded
// as sent, exactly once per (task, reminder_at).
package reminder

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Sidecar is what the service needs from its Dapr sidecar: invoking
// todo-api and publishing.
type Sidecar interface {
	dapr.Invoker
	BulkPublishCloudEvents(ctx context.Context, pubsub, topic string, entries []dapr.BulkEntry) error
}

// BindingName is the name of the cron input binding component; the sidecar
// POSTs to /<name> on every tick.
const BindingName = "reminder-cron"

// PageSize is how many due reminders are asked for, published (in one bulk
// publish) and marked (in one call) at once.
const PageSize = 500

// DefaultConcurrency is how many pages a sweep has in flight at once when
// Service.Concurrency is not set.
const DefaultConcurrency = 4

// Service sweeps due reminders.
type Service struct {
	Dapr      Sidecar
	Log       *slog.Logger
	PubSub    string
	AppToken  string
	TodoAppID string // app id of todo-api
	Now       func() time.Time
	Telemetry *telemetry.Metrics // optional
	Metrics   *Metrics           // optional
	// Concurrency is how many pages are in flight at once, the one being
	// listed included (DefaultConcurrency when 0); 1 lists, publishes and
	// marks one page after the other.
	Concurrency int

	sweeping sync.Mutex
}

// Metrics are the reminder sweep's own metrics.
type Metrics struct {
	SweepSeconds *prometheus.HistogramVec // by outcome (ok, failed)
	Published    prometheus.Counter
}

// NewMetrics registers the sweep metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SweepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "todo_reminder_sweep_seconds", Help: "Duration of one reminder sweep, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "todo_reminders_published_total", Help: "ReminderDue events published.",
		}),
	}
	reg.MustRegister(m.SweepSeconds, m.Published)
	return m
}

// Routes returns the HTTP handler: the cron binding's routes, behind the
// app token.
func (s *Service) Routes() http.Handler {
	app := &consumer.App{
		Name: "reminder-service", AppToken: s.AppToken, Log: s.Log, Telemetry: s.Telemetry,
		Routes: []consumer.Route{
			// The sidecar probes with OPTIONS whether the app handles the
			// binding.
			{Pattern: "OPTIONS /" + BindingName, Handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }},
			{Pattern: "POST /" + BindingName, Handler: s.tick},
		},
	}
	return app.Handler()
}

func (s *Service) todo() todointernal.Client {
	return todointernal.Client{Dapr: s.Dapr, AppID: s.TodoAppID}
}

func (s *Service) tick(w http.ResponseWriter, r *http.Request) {
	if !s.sweeping.TryLock() {
		s.Log.Info("reminder sweep: previous sweep still running; skipping this tick")
		w.WriteHeader(http.StatusOK)
		return
	}
	defer s.sweeping.Unlock()
	res, err := s.Sweep(r.Context())
	log := s.Log.With("found", res.Found, "published", res.Published, "marked", res.Marked,
		"duration_ms", msec(res.Duration), "list_ms", msec(res.Spent.List), "publish_ms", msec(res.Spent.Publish),
		"mark_ms", msec(res.Spent.Mark), "trace_id", httpx.TraceID(r))
	if s.Metrics != nil {
		outcome := "ok"
		if err != nil {
			outcome = "failed"
		}
		s.Metrics.SweepSeconds.WithLabelValues(outcome).Observe(res.Duration.Seconds())
		s.Metrics.Published.Add(float64(res.Published))
	}
	if err != nil {
		log.Error("reminder sweep failed; unsent reminders stay due for the next tick", "err", err)
		httpx.WriteError(w, http.StatusInternalServerError, "sweep_failed", err.Error())
		return
	}
	log.Info("reminder sweep")
	w.WriteHeader(http.StatusOK)
}

func msec(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Result counts what one sweep did.
type Result struct {
	Found, Published, Marked int
	Duration                 time.Duration
	Spent                    Spent
}

// Spent is the time one sweep spent waiting on each kind of call, summed
// over its pages.
type Spent struct {
	List, Publish, Mark time.Duration
}

// Sweep publishes every reminder due now and marks each one sent after its
// publish succeeded. Pages are listed one after the other, and up to
// Concurrency pages are in flight at once, counting the one being listed:
// the others are being published and then marked. After the first failure
// no further page is listed: what is left stays due for the next tick.
func (s *Service) Sweep(ctx context.Context) (res Result, err error) {
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	now := s.Now().UTC()
	workers := s.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	var (
		mu       sync.Mutex // guards res and err
		wg       sync.WaitGroup
		slots    = make(chan struct{}, workers)
		after    *todointernal.ReminderRef
		lastPage bool
	)
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return err != nil }
	for !lastPage && !failed() {
		slots <- struct{}{} // wait for a page in flight to finish
		if failed() {
			<-slots
			break
		}
		t0 := time.Now()
		page, lerr := s.list(ctx, now, after)
		mu.Lock()
		res.Spent.List += time.Since(t0)
		res.Found += len(page)
		if lerr != nil && err == nil {
			err = lerr
		}
		mu.Unlock()
		if lerr != nil || len(page) == 0 || failed() {
			<-slots
			break
		}
		lastPage = len(page) < PageSize
		last := page[len(page)-1].Ref()
		after = &last
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			r, perr := s.sendPage(ctx, page)
			mu.Lock()
			defer mu.Unlock()
			res.Published += r.Published
			res.Marked += r.Marked
			res.Spent.Publish += r.Spent.Publish
			res.Spent.Mark += r.Spent.Mark
			if perr != nil && err == nil {
				err = perr
			}
		}()
	}
	wg.Wait()
	return res, err
}

// sendPage publishes one page and then marks it sent.
func (s *Service) sendPage(ctx context.Context, page []todointernal.Reminder) (res Result, err error) {
	t0 := time.Now()
	err = s.publish(ctx, page)
	res.Spent.Publish = time.Since(t0)
	if err != nil {
		if ids, certain := dapr.NotPublished(err); certain {
			s.release(ctx, page, ids)
		}
		return res, fmt.Errorf("publish %d reminders: %w", len(page), err)
	}
	res.Published = len(page)
	for _, d := range page {
		s.Log.Info("reminder published", "task_id", d.TaskID, "user_id", d.UserID, "reminder_at", d.ReminderAt,
			"event_id", events.ReminderEventID(d.TaskID, d.ReminderAt))
	}
	t0 = time.Now()
	res.Marked, err = s.markSent(ctx, page)
	res.Spent.Mark = time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("mark %d reminders sent: %w", len(page), err)
	}
	return res, nil
}

// list lists (and claims) the page of reminders due before now after the
// position after (nil from the start).
func (s *Service) list(ctx context.Context, now time.Time, after *todointernal.ReminderRef) ([]todointernal.Reminder, error) {
	page, err := s.todo().Due(ctx, todointernal.DueQuery{Before: now, After: after, Limit: PageSize})
	if err != nil {
		return nil, fmt.Errorf("list due reminders: %w", err)
	}
	return page, nil
}

// publish sends a page of reminders in one bulk publish. Each event's id is
// derived from (task, reminder_at), so a page published again after a
// failure is deduplicated by the notification service.
func (s *Service) publish(ctx context.Context, page []todointernal.Reminder) error {
	entries := make([]dapr.BulkEntry, 0, len(page))
	for _, d := range page {
		data := events.ReminderEvent{
			EventType: events.ReminderDue, TaskID: d.TaskID, UserID: d.UserID, Title: d.Title,
			DueAt: d.DueAt, ReminderAt: d.ReminderAt, Before: d.Before, Timezone: d.Timezone,
		}
		id := events.ReminderEventID(d.TaskID, d.ReminderAt)
		ce, err := events.NewCloudEvent(id, "reminder-service", events.ReminderDue, d.TaskID, d.ReminderAt, data)
		if err != nil {
			return err
		}
		body, err := json.Marshal(ce)
		if err != nil {
			return err
		}
		entries = append(entries, dapr.BulkEntry{ID: id, Event: body,
			Metadata: map[string]string{"partitionKey": strconv.FormatInt(d.TaskID, 10)}})
	}
	return s.Dapr.BulkPublishCloudEvents(ctx, s.PubSub, events.TopicReminders, entries)
}

// release gives back the claims of the reminders of page whose event ids
// the sidecar said it did not publish, so that a task completed or deleted
// before the next sweep gets none of them. A failure only leaves them
// claimed: they are then published again (the same ids) by a later sweep,
// which is the safe side.
func (s *Service) release(ctx context.Context, page []todointernal.Reminder, ids []string) {
	refused := make(map[string]bool, len(ids))
	for _, id := range ids {
		refused[id] = true
	}
	var notSent []todointernal.ReminderRef
	for _, d := range page {
		if refused[events.ReminderEventID(d.TaskID, d.ReminderAt)] {
			notSent = append(notSent, d.Ref())
		}
	}
	if len(notSent) == 0 {
		return
	}
	if _, err := s.todo().Release(ctx, notSent); err != nil {
		s.Log.Warn("reminder sweep: cannot release the claims of refused reminders; a later sweep publishes them again",
			"count", len(notSent), "err", err)
		return
	}
	s.Log.Info("reminder sweep: released the claims of refused reminders", "count", len(notSent))
}

// markSent tells todo-api that a page of reminders was published; it
// answers how many were recorded sent (each of them, whatever its task has
// become since it was listed, unless the task no longer exists).
func (s *Service) markSent(ctx context.Context, page []todointernal.Reminder) (int, error) {
	sent := make([]todointernal.ReminderRef, len(page))
	for i, d := range page {
		sent[i] = d.Ref()
	}
	return s.todo().Sent(ctx, sent)
}

// New builds reminder-service's handler (the cron binding's routes).
func New(_ context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (service.Handlers, func(), error) {
	s := &Service{Dapr: cfg.Dapr().WithLog(log), Log: log, PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken,
		TodoAppID: cfg.TodoAppID, Now: time.Now, Telemetry: m, Metrics: NewMetrics(m.Registry)}
	return service.Handlers{App: s.Routes()}, nil, nil
}

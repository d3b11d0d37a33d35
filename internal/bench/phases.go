package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/todoapi/store"
)

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// openLoop calls op `rate` times a second for d, whatever the answers' pace
// (up to 256 in flight). The i-th call is due at start + i/rate: a late
// call goes as soon as it can and the ones after it keep their times, so a
// slow moment is caught up rather than lost. It returns how many calls
// were due (rate × d), how many were sent, and the time from the start to
// the last send.
func openLoop(ctx context.Context, rate int, d time.Duration, op func(i int)) (target, sent int, el time.Duration) {
	target = int(float64(rate) * d.Seconds())
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range target {
		if ctx.Err() != nil {
			break
		}
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			op(i)
		}(i)
		sent++
	}
	el = time.Since(start)
	wg.Wait()
	return target, sent, el
}

// fixedRate creates recurring tasks at rate/s for d, then completes them at
// the same rate, and measures from the database how long each took to be
// handled by audit-service and by recurring-service.
//
// When live is not nil (web-app runs), it also measures web-app's push:
// from each task's created_at to its TaskCreated in the bench user's open
// stream.
func fixedRate(ctx context.Context, db *pgxpool.Pool, api *client.Client, live *liveWatch, rate int, d time.Duration) (E2E, error) {
	e := E2E{Rate: rate}
	var mu sync.Mutex
	var ids []int64
	due := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	target, sent, el := openLoop(ctx, rate, d, func(int) {
		tk, err := api.CreateTask(ctx, client.NewTask{Title: "e2e", Recurrence: client.RecurrenceDaily, DueAt: &due})
		if err != nil {
			return
		}
		mu.Lock()
		ids = append(ids, tk.ID)
		mu.Unlock()
	})
	e.Target, e.Sent, e.AchievedRate = target, len(ids), float64(sent)/el.Seconds()
	// Wait (bounded) until audit has them all, then read the latencies.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE event_type = 'TaskCreated' AND task_id = ANY($1)`, ids).Scan(&n); err != nil {
			return e, err
		}
		e.AuditDelivered = n
		if n >= len(ids) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	lat, err := durations(ctx, db, `SELECT a.received_at - t.created_at FROM audit_events a JOIN tasks t ON t.id = a.task_id
		WHERE a.event_type = 'TaskCreated' AND t.id = ANY($1)`, ids)
	if err != nil {
		return e, err
	}
	e.AuditP50, e.AuditP99 = pct(lat, .5), pct(lat, .99)
	if live != nil {
		e.WebMeasured = true
		if e.WebDelivered, lat, err = live.latencies(ctx, db, "TaskCreated", ids, 10*time.Second); err != nil {
			return e, err
		}
		e.WebP50, e.WebP99 = pct(lat, .5), pct(lat, .99)
		live.mu.Lock()
		e.WebCuts = live.reconnects
		live.mu.Unlock()
	}

	var completed []int64
	_, _, _ = openLoop(ctx, rate, d, func(i int) {
		mu.Lock()
		if i >= len(ids) {
			mu.Unlock()
			return
		}
		id := ids[i]
		mu.Unlock()
		if _, err := api.CompleteTask(ctx, id); err == nil {
			mu.Lock()
			completed = append(completed, id)
			mu.Unlock()
		}
	})
	e.Completed = len(completed)
	deadline = time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE previous_id = ANY($1)`, completed).Scan(&n); err != nil {
			return e, err
		}
		e.RecurringDelivered = n
		if n >= len(completed) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	lat, err = durations(ctx, db, `SELECT n.created_at - p.completed_at FROM tasks n JOIN tasks p ON p.id = n.previous_id
		WHERE p.id = ANY($1)`, completed)
	if err != nil {
		return e, err
	}
	e.RecurringP50, e.RecurringP99 = pct(lat, .5), pct(lat, .99)
	return e, nil
}

func durations(ctx context.Context, db *pgxpool.Pool, sql string, ids []int64) ([]time.Duration, error) {
	rows, err := db.Query(ctx, sql, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Duration])
}

// SweepReminders are the reminders per task the sweep step compares.
var SweepReminders = []int{1, 3}

// sweeps runs the sweep once per count of SweepReminders, each over a
// table filled afresh.
func sweeps(ctx context.Context, db *pgxpool.Pool, sys *devstack.System, cfg Config) ([]Sweep, error) {
	var out []Sweep
	for _, k := range SweepReminders {
		s, err := sweep(ctx, db, sys, cfg, k)
		if err != nil {
			return out, fmt.Errorf("sweep with %d reminders a task: %w", k, err)
		}
		say(cfg.Out, "    %d reminders a task: %d published in %s, first page %s (index used: %v)",
			k, s.Published, s.Duration, s.PageTime, s.UsesIndex)
		out = append(out, s)
	}
	return out, nil
}

// sweep fills the tasks table with cfg.SweepTasks tasks of k reminders
// each, and times one reminder sweep, triggered the way the cron binding
// does it. Of the tasks, cfg.SweepDue have one reminder due (the others
// of theirs are still ahead, as a reminder a day and an hour before and
// one at the due time are); the rest have all theirs ahead, and a third
// of them a reminder sent earlier (the sent records the query must pass).
// The tasks of a previous fill are deleted first.
func sweep(ctx context.Context, db *pgxpool.Pool, sys *devstack.System, cfg Config, k int) (Sweep, error) {
	s := Sweep{Tasks: cfg.SweepTasks, Due: cfg.SweepDue, Reminders: k}
	steps := []struct {
		what, sql string
		args      []any
	}{
		{"delete the previous fill", `DELETE FROM tasks WHERE user_id LIKE 'sweep%'`, nil},
		{"fill tasks", `INSERT INTO tasks (user_id, title, description, due_at, reminders, created_at, updated_at)
		SELECT 'sweep' || (i % 1000), 'sweep task ' || i, '',
		       CASE WHEN i <= $2 THEN now() + interval '1 day' ELSE now() + interval '2 days' END,
		       (SELECT jsonb_agg(jsonb_build_object('before', 'PT' || j || 'H')) FROM generate_series(1, $3) AS j),
		       now(), now()
		FROM generate_series(1, $1) AS i`, []any{cfg.SweepTasks, cfg.SweepDue, k}},
		{"fill the schedule", `INSERT INTO task_reminder_times (task_id, remind_at, before)
		SELECT t.id, CASE WHEN j = 1 AND t.due_at < now() + interval '36 hours' THEN now() - interval '1 hour'
		                  ELSE t.due_at - make_interval(hours => j) END, 'PT' || j || 'H'
		FROM tasks t, generate_series(1, $1) AS j WHERE t.user_id LIKE 'sweep%'`, []any{k}},
		{"fill the sent records", `INSERT INTO task_reminders (task_id, reminder_at, claimed_at, sent_at)
		SELECT id, now() - interval '2 hours', now(), now() FROM tasks
		WHERE user_id LIKE 'sweep%' AND id % 3 = 0 AND due_at > now() + interval '36 hours'`, nil},
		{"set reminder_at", `UPDATE tasks t SET reminder_at = n.at
		FROM (SELECT task_id, min(remind_at) AS at FROM task_reminder_times GROUP BY task_id) n
		WHERE t.id = n.task_id AND t.user_id LIKE 'sweep%'`, nil},
		{"vacuum", `VACUUM ANALYZE tasks`, nil},
		{"vacuum", `VACUUM ANALYZE task_reminder_times`, nil},
		{"vacuum", `VACUUM ANALYZE task_reminders`, nil},
	}
	for _, st := range steps {
		if _, err := db.Exec(ctx, st.sql, st.args...); err != nil {
			return s, fmt.Errorf("%s: %w", st.what, err)
		}
	}
	var plan []string
	rows, err := db.Query(ctx, `EXPLAIN `+store.DueRemindersQuery, time.Now(), time.Time{}, 0, 200)
	if err != nil {
		return s, err
	}
	if plan, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return s, err
	}
	s.Plan = strings.Join(plan, "\n")
	// The large tables must be read through the schedule's index: neither
	// tasks nor the schedule scanned whole. task_reminders (claims and
	// sent records) may be scanned while it is small; at a million sent
	// records the planner probes its primary key instead
	// (docs/benchmarks.md).
	s.UsesIndex = strings.Contains(s.Plan, "task_reminder_times_due") && !strings.Contains(s.Plan, "Seq Scan on tasks ") &&
		!strings.Contains(s.Plan, "Seq Scan on task_reminder_times ")
	if s.PageTime, err = pageTime(ctx, db); err != nil {
		return s, err
	}

	inst := sys.Instances["reminder-service"]
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, inst.AppURL()+"/reminder-cron", nil)
	req.Header.Set("dapr-api-token", sys.AppToken("reminder-service"))
	t0 := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return s, err
	}
	resp.Body.Close()
	s.Duration = time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("sweep answered %d", resp.StatusCode)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM task_reminders r JOIN tasks t ON t.id = r.task_id
		WHERE t.user_id LIKE 'sweep%' AND r.sent_at IS NOT NULL AND r.reminder_at > now() - interval '90 minutes'`).Scan(&s.Published); err != nil {
		return s, err
	}
	return s, nil
}

// pageTime is the median time of the sweep query's first page (200, the
// sweep's page size) over 5 runs, each rolled back so that nothing is
// claimed.
func pageTime(ctx context.Context, db *pgxpool.Pool) (time.Duration, error) {
	var times []time.Duration
	for range 5 {
		tx, err := db.Begin(ctx)
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		rows, err := tx.Query(ctx, store.DueRemindersQuery, time.Now(), time.Time{}, 0, 200)
		if err == nil {
			for rows.Next() {
			}
			rows.Close()
			err = rows.Err()
		}
		times = append(times, time.Since(t0))
		if rerr := tx.Rollback(ctx); err == nil {
			err = rerr
		}
		if err != nil {
			return 0, fmt.Errorf("the sweep's first page: %w", err)
		}
	}
	return pct(times, 0.5), nil
}

// profile writes a CPU profile of each Go service over window into
// cfg.ProfileDir, from the pprof endpoints PPROF=true turns on.
func profile(ctx context.Context, cfg Config, sys *devstack.System, window time.Duration) {
	var wg sync.WaitGroup
	for _, a := range devstack.Apps {
		inst := sys.Instances[a.ID]
		if inst == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", inst.MetricsPort, max(int(window.Seconds()), 1))
			path := filepath.Join(cfg.ProfileDir, a.ID+".pprof")
			if err := fetchTo(ctx, url, path); err != nil {
				say(cfg.Out, "    profile of %s: %v", a.ID, err)
				return
			}
			say(cfg.Out, "    CPU profile of %s: %s", a.ID, path)
		}()
	}
	wg.Wait()
}

func fetchTo(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func machine() string {
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf(", %.0f GiB", kb/1024/1024)
		}
	}
	return fmt.Sprintf("%d cores%s, %s/%s, %s", runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

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

// sweep fills the tasks table and times one reminder sweep, triggered the
// way the cron binding does it.
func sweep(ctx context.Context, db *pgxpool.Pool, sys *devstack.System, cfg Config) (Sweep, error) {
	s := Sweep{Tasks: cfg.SweepTasks, Due: cfg.SweepDue}
	if _, err := db.Exec(ctx, `INSERT INTO tasks (user_id, title, description, reminder_at, reminded_for, created_at, updated_at)
		SELECT 'sweep' || (i % 1000), 'sweep task ' || i, '',
		       CASE WHEN i <= $2 THEN now() - interval '1 hour'
		            WHEN i % 3 = 0 THEN now() - interval '2 hours'
		            WHEN i % 3 = 1 THEN now() + interval '1 day' END,
		       CASE WHEN i > $2 AND i % 3 = 0 THEN now() - interval '2 hours' END,
		       now(), now()
		FROM generate_series(1, $1) AS i`, cfg.SweepTasks, cfg.SweepDue); err != nil {
		return s, fmt.Errorf("fill tasks: %w", err)
	}
	if _, err := db.Exec(ctx, `ANALYZE tasks`); err != nil {
		return s, err
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
	// The tasks table is the large one: it must be read through the partial
	// index. task_reminders (claims and sent records) may be scanned while
	// it is small; at a million sent records the planner probes its primary
	// key instead (docs/benchmarks.md).
	s.UsesIndex = strings.Contains(s.Plan, "tasks_reminder_pending") && !strings.Contains(s.Plan, "Seq Scan on tasks ")

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
	if err := db.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE user_id LIKE 'sweep%' AND reminded_for = reminder_at AND reminder_at > now() - interval '90 minutes'`).Scan(&s.Published); err != nil {
		return s, err
	}
	return s, nil
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

// Package bench measures the whole system as separate processes (real
// daprd sidecars, the dev broker, PostgreSQL) in one run and prints a table:
// the raw database baseline, API writes, end-to-end latency at fixed rates,
// the reminder sweep over a large table, and the footprint of every process.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/devstack"
)

// Config sizes a run.
type Config struct {
	Root         string
	Out          io.Writer // progress and the table
	ProcOut      io.Writer // the processes' own output
	AdminURL     string    // PostgreSQL superuser URL
	Phase        time.Duration
	Rates        []int // fixed end-to-end rates, writes per second
	SweepTasks   int   // tasks in the table for the reminder sweep
	SweepDue     int   // of which due
	Smoke        bool  // tiny sizes: checks that everything works, not numbers
	JWTSecret    string
	RecurringPct int
	Only         []string // when set, only these of the steps baseline, api, e2e, sweep run
	ProfileDir   string   // when set, CPU profiles of the Go services under 8 API clients are written here
	OnlyApps     []string // when set, only these apps start (then only the baseline and api steps can run)
	WebStreams   int      // open pages that each get a reminder (web step)
	WebIdle      int      // idle streams whose memory the web step measures
	// The soak step: for Soak, SoakRate times a second, a recurring task is
	// created and completed (three task changes with the next occurrence);
	// every SoakSample each process's memory and each /metrics page's size
	// are read.
	Soak       time.Duration
	SoakRate   int
	SoakSample time.Duration
	LogLevel   string // of the services and sidecars ("" = warn)
	// Broker is the pub/sub broker the system runs on ("" = Kafka, the dev
	// broker).
	Broker devstack.Broker
}

// Check reports an option that cannot work: an unknown step or app, or a
// step that needs an app that is not started.
func (c Config) Check() error {
	for _, s := range c.Only {
		if !slices.Contains(Steps, s) {
			return fmt.Errorf("unknown step %q; the steps are %s", s, strings.Join(Steps, ", "))
		}
	}
	if len(c.OnlyApps) == 0 {
		return nil
	}
	var ids []string
	for _, a := range devstack.Apps {
		ids = append(ids, a.ID)
	}
	for _, a := range c.OnlyApps {
		if !slices.Contains(ids, a) {
			return fmt.Errorf("unknown app %q; the apps are %s", a, strings.Join(ids, ", "))
		}
	}
	if !slices.Contains(c.OnlyApps, "todo-api") {
		return errors.New("every step but the baseline needs todo-api")
	}
	if len(c.OnlyApps) < len(ids) && (c.runs("e2e") || c.runs("web") || c.runs("sweep") || c.runs("soak")) {
		return errors.New("the e2e, web, sweep and soak steps need every app; add -only baseline,api")
	}
	return nil
}

// Steps are the names Config.Only takes.
var Steps = []string{"baseline", "api", "e2e", "web", "sweep", "soak"}

func (c Config) runs(step string) bool {
	if len(c.Only) == 0 {
		return true
	}
	for _, s := range c.Only {
		if s == step {
			return true
		}
	}
	return false
}

// DefaultConfig is the full run of `make bench`.
func DefaultConfig() Config {
	return Config{Phase: 10 * time.Second, Rates: []int{100, 125, 150, 175, 200, 225, 250, 275, 300, 400, 500}, SweepTasks: 1_000_000, SweepDue: 10_000,
		WebStreams: 100, WebIdle: 1000, JWTSecret: "bench-secret-bench-secret-bench-secret",
		Soak: 10 * time.Minute, SoakRate: 50, SoakSample: time.Minute}
}

// SmokeConfig is CI's: every step, tiny sizes.
func SmokeConfig() Config {
	return Config{Phase: 2 * time.Second, Rates: []int{50}, SweepTasks: 50_000, SweepDue: 200, Smoke: true,
		WebStreams: 10, WebIdle: 50, JWTSecret: "bench-secret-bench-secret-bench-secret",
		Soak: 6 * time.Second, SoakRate: 20, SoakSample: 2 * time.Second}
}

// Report is what a run measured.
type Report struct {
	When     time.Time
	Machine  string
	Baseline map[int]Throughput // clients -> raw insert task + outbox row
	API      map[int]Throughput // clients -> POST /api/tasks
	E2E      []E2E
	Sweeps   []Sweep // one per count of SweepReminders
	Web      Web
	Idle     []Footprint
	Load     []Footprint
	Cost     Cost // CPU per write under 8 API clients, every process
	// BaselineCost is the raw baseline's cores per 1,000 writes/s under 8
	// clients: this process (the Go client) and PostgreSQL; 0 if not run.
	BaselineCost float64
	Metrics      []MetricsPage // each sidecar's /metrics at idle and after the e2e step
	Soak         []SoakSample
	Only         []string // the steps that ran, when not all
	OnlyApps     []string // the apps that ran, when not all
}

// Throughput of one closed-loop phase.
type Throughput struct {
	Ops           int
	PerSecond     float64
	P50, P90, P99 time.Duration
}

// E2E is one fixed-rate phase.
type E2E struct {
	Rate                          int
	AtAPIMax                      bool // the rate is the API's own closed-loop maximum (8 clients)
	Target, Sent                  int  // creates due by the schedule; created
	AchievedRate                  float64
	WebMeasured                   bool          // web-app ran: its push was measured
	WebP50, WebP99                time.Duration // write -> TaskCreated in web-app's stream of the user
	WebDelivered                  int
	WebCuts                       int // streams web-app cut for lagging, so far in the run
	AuditP50, AuditP99            time.Duration
	AuditDelivered                int
	RecurringP50, RecurringP99    time.Duration
	Completed, RecurringDelivered int
}

// Sweep is the reminder sweep over a large table, its tasks with
// Reminders reminders each.
type Sweep struct {
	Tasks, Due, Published int
	Reminders             int
	Duration              time.Duration // the whole sweep: list, publish, mark
	PageTime              time.Duration // the query of its first page, median of 5
	UsesIndex             bool
	Plan                  string
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(p * float64(len(d)-1))
	return d[i]
}

func say(out io.Writer, format string, a ...any) { fmt.Fprintf(out, "bench | "+format+"\n", a...) }

// Run measures and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	rep := &Report{When: time.Now().UTC(), Machine: machine(), Baseline: map[int]Throughput{}, API: map[int]Throughput{},
		Only: cfg.Only, OnlyApps: cfg.OnlyApps}
	daprd, ok := devstack.FindDaprd(cfg.Root)
	if !ok {
		return nil, fmt.Errorf("daprd is not built; run make daprd")
	}
	work, err := os.MkdirTemp("", "todo-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	say(cfg.Out, "building the services")
	bin := filepath.Join(work, "bin")
	if err := devstack.BuildBinaries(ctx, cfg.Root, bin, devstack.Binaries...); err != nil {
		return nil, err
	}
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	rawDB, apiDB := "bench_raw_"+stamp, "bench_api_"+stamp
	for _, db := range []string{rawDB, apiDB} {
		if err := devstack.CreateDatabase(ctx, cfg.AdminURL, db); err != nil {
			return nil, err
		}
		defer func() { _ = devstack.DropDatabase(context.WithoutCancel(ctx), cfg.AdminURL, db) }()
	}

	// 1. Baseline, in a database of its own with the same schema (no relay).
	say(cfg.Out, "1/7 baseline: insert task + outbox row in one transaction, straight to PostgreSQL")
	raw, err := pgxpool.New(ctx, devstack.WithDatabase(cfg.AdminURL, rawDB)+"&pool_max_conns=16")
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	if err := migrate(ctx, raw); err != nil {
		return nil, err
	}
	for _, clients := range []int{1, 8} {
		if !cfg.runs("baseline") {
			break
		}
		before := snapshotBaselineCPU()
		rep.Baseline[clients] = closedLoop(ctx, clients, cfg.Phase, func(ctx context.Context) error { return rawInsert(ctx, raw) })
		say(cfg.Out, "    %d clients: %.0f/s", clients, rep.Baseline[clients].PerSecond)
		if clients == 8 && rep.Baseline[clients].Ops > 0 {
			used := before.since(snapshotBaselineCPU())
			rep.BaselineCost = (used[benchName] + used[postgresName]) * 1000 / float64(rep.Baseline[clients].Ops)
			say(cfg.Out, "    %.2f cores per 1,000 writes/s (this Go client and PostgreSQL)", rep.BaselineCost)
		}
	}
	// Its rows would keep PostgreSQL's autovacuum busy during later steps.
	raw.Close()
	if err := devstack.DropDatabase(ctx, cfg.AdminURL, rawDB); err != nil {
		return nil, err
	}
	if err := settle(ctx, cfg.AdminURL, ""); err != nil {
		return nil, err
	}

	// The system.
	logLevel := cfg.LogLevel
	if logLevel == "" {
		logLevel = "warn"
	}
	say(cfg.Out, "starting the system (log level %s)", logLevel)
	apiURL := devstack.WithDatabase(cfg.AdminURL, apiDB)
	appEnv := []string{"RATE_LIMIT_WRITES_PER_SECOND=0"}
	if cfg.ProfileDir != "" {
		appEnv = append(appEnv, "PPROF=true")
	}
	sys, err := devstack.Up(ctx, devstack.Config{
		Root: cfg.Root, WorkDir: work, Out: cfg.ProcOut, Daprd: daprd, BinDir: bin, DatabaseURL: apiURL,
		CronSchedule: "@every 1h", JWTSecret: cfg.JWTSecret, LogFormat: "json", LogLevel: logLevel, DaprLogLevel: logLevel, Broker: cfg.Broker, DirectBroker: true,
		AppEnv: appEnv, LockWait: 15 * time.Minute, OnlyApps: cfg.OnlyApps, DevSignIn: true,
		// The web step signs in 100 users and opens 1,000 streams, all
		// from 127.0.0.1: web-app's per-address limits are raised for it.
		AppEnvFor: map[string][]string{"web-app": {"SIGNIN_RATE_PER_MINUTE=60000", "SIGNIN_BURST=10000",
			"STREAM_OPEN_RATE_PER_MINUTE=60000", "STREAM_OPEN_BURST=10000", "STREAMS_PER_CLIENT=10000"}},
	})
	if err != nil {
		return nil, err
	}
	defer sys.Close()
	db, err := pgxpool.New(ctx, apiURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tok, err := auth.Mint(auth.Config{Secret: []byte(cfg.JWTSecret)}, "bench", 2*time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	api := client.New(sys.APIURL(), tok, client.WithHTTPClient(
		&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}))
	time.Sleep(2 * time.Second)
	rep.Idle = footprint(sys, 3*time.Second)

	// 2. API writes. The 8-client phase's cost is measured from its start
	// until every consumer has caught up.
	say(cfg.Out, "2/7 API writes: POST /api/tasks")
	idleMetrics := sidecarMetrics(ctx, sys)
	for _, clients := range []int{1, 8} {
		if !cfg.runs("api") {
			break
		}
		var fp []Footprint
		var wg sync.WaitGroup
		var before cpuSnapshot
		t0 := time.Now()
		if clients == 8 {
			before = snapshotCPU(sys)
			wg.Add(1)
			go func() { defer wg.Done(); time.Sleep(cfg.Phase / 4); fp = footprint(sys, cfg.Phase/2) }()
		}
		rep.API[clients] = closedLoop(ctx, clients, cfg.Phase, func(ctx context.Context) error {
			_, err := api.CreateTask(ctx, client.NewTask{Title: "bench"})
			return err
		})
		wg.Wait()
		if err := waitDrained(ctx, db, sys.Instances["audit-service"] != nil, 2*time.Minute); err != nil {
			return nil, err
		}
		if fp != nil {
			rep.Load = fp
			rep.Cost = costOf(sys, before, snapshotCPU(sys), rep.API[clients].Ops, time.Since(t0))
		}
		say(cfg.Out, "    %d clients: %.0f/s, p99 %s", clients, rep.API[clients].PerSecond, rep.API[clients].P99)
	}
	if rep.Cost.Writes > 0 {
		say(cfg.Out, "    whole system: %.2f cores per 1,000 writes/s%s", rep.Cost.Total(), rep.vsBaseline())
	}
	if cfg.ProfileDir != "" && cfg.runs("api") {
		// Profiling costs CPU: in a phase of its own, after the measured ones.
		say(cfg.Out, "    profiling under 8 API clients (not measured)")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); time.Sleep(cfg.Phase / 4); profile(ctx, cfg, sys, cfg.Phase/2) }()
		closedLoop(ctx, 8, cfg.Phase, func(ctx context.Context) error {
			_, err := api.CreateTask(ctx, client.NewTask{Title: "bench"})
			return err
		})
		wg.Wait()
		if err := waitDrained(ctx, db, sys.Instances["audit-service"] != nil, 2*time.Minute); err != nil {
			return nil, err
		}
	}
	if err := settle(ctx, cfg.AdminURL, apiURL); err != nil {
		return nil, err
	}

	// 3. End to end at fixed rates, the last of them the API's own maximum.
	say(cfg.Out, "3/7 end to end at fixed rates")
	var live *liveWatch
	lctx, closeLive := context.WithCancel(ctx) // the stream closes before the web step counts streams
	defer closeLive()
	if web := sys.Instances["web-app"]; web != nil && cfg.runs("e2e") {
		if live, err = watchLive(lctx, web.URL(), "bench"); err != nil {
			return nil, fmt.Errorf("open the bench user's stream: %w", err)
		}
	}
	type phase struct {
		rate  int
		atMax bool
	}
	var phases []phase
	for _, r := range cfg.Rates {
		phases = append(phases, phase{r, false})
	}
	if m := int(rep.API[8].PerSecond); m > 0 {
		phases = append(phases, phase{m, true})
	}
	for _, p := range phases {
		if !cfg.runs("e2e") {
			break
		}
		e, err := fixedRate(ctx, db, api, live, p.rate, cfg.Phase)
		if err != nil {
			return nil, err
		}
		e.AtAPIMax = p.atMax
		rep.E2E = append(rep.E2E, e)
		if err := settle(ctx, cfg.AdminURL, apiURL); err != nil {
			return nil, err
		}
		say(cfg.Out, "    %d/s: sent %d of %d (%.0f/s), audit p50 %s p99 %s (%d/%d), recurring p50 %s p99 %s (%d/%d), web push p50 %s p99 %s (%d)",
			p.rate, e.Sent, e.Target, e.AchievedRate, e.AuditP50, e.AuditP99, e.AuditDelivered, e.Sent,
			e.RecurringP50, e.RecurringP99, e.RecurringDelivered, e.Completed, e.WebP50, e.WebP99, e.WebDelivered)
	}
	closeLive()
	loaded := sidecarMetrics(ctx, sys)
	for _, a := range devstack.Apps {
		name := "daprd " + a.ID
		if i, ok := idleMetrics[name]; ok {
			l := loaded[name]
			rep.Metrics = append(rep.Metrics, MetricsPage{Name: name, IdleBytes: i[0], IdleSeries: i[1], LoadedBytes: l[0], LoadedSeries: l[1]})
		}
	}

	// 4. web-app, before the sweep fills the tasks table.
	say(cfg.Out, "4/7 web-app: page weight, reminders to %d open pages, %d idle streams", cfg.WebStreams, cfg.WebIdle)
	if cfg.runs("web") {
		w, err := webStep(ctx, sys, cfg, cfg.WebStreams, cfg.WebIdle)
		if err != nil {
			return nil, fmt.Errorf("web step: %w", err)
		}
		rep.Web = w
		say(cfg.Out, "    first load %d files, %d B compressed; %d of %d pushed, p50 %s p99 %s; %d idle streams: web-app %.1f -> %.1f MiB",
			w.PageFiles, w.PageBytes, w.Pushed, w.Streams, w.PushP50, w.PushP99, w.IdleStreams, w.RSSBeforeMiB, w.RSSIdleMiB)
	}

	// 5. Reminder sweep.
	say(cfg.Out, "5/7 reminder sweep: %d tasks, %d due, with %v reminders a task", cfg.SweepTasks, cfg.SweepDue, SweepReminders)
	if cfg.runs("sweep") {
		if rep.Sweeps, err = sweeps(ctx, db, sys, cfg); err != nil {
			return nil, err
		}
	}
	// 6. Soak.
	say(cfg.Out, "6/7 soak: %d recurring tasks created and completed per second for %s", cfg.SoakRate, cfg.Soak)
	if cfg.runs("soak") {
		if rep.Soak, err = soak(ctx, sys, db, api, cfg); err != nil {
			return nil, fmt.Errorf("soak: %w", err)
		}
	}
	say(cfg.Out, "7/7 done")
	return rep, nil
}

// closedLoop runs op from `clients` goroutines for d and measures.
func closedLoop(ctx context.Context, clients int, d time.Duration, op func(context.Context) error) Throughput {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx); err != nil {
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return Throughput{Ops: len(lat), PerSecond: float64(len(lat)) / el.Seconds(), P50: pct(lat, .5), P90: pct(lat, .9), P99: pct(lat, .99)}
}

var ceBody = func() string {
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "x", "source": "todo-api", "type": "todo.TaskCreated.v1",
		"datacontenttype": "application/json", "data": map[string]any{"event_type": "TaskCreated", "task_id": 1, "user_id": "bench", "title": "bench"}})
	return string(b)
}()

// rawInsert is the write the API does, without the API: a task row and its
// outbox row in one transaction (the schema's trigger sends the NOTIFY).
func rawInsert(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var id int64
		now := time.Now()
		if err := tx.QueryRow(ctx, `INSERT INTO tasks (user_id, title, description, priority, tags, recurrence, timezone, created_at, updated_at)
			VALUES ('bench', 'bench', '', 0, '{}', 'none', 'UTC', $1, $1) RETURNING id`, now).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO outbox (id, topic, partition_key, event_type, cloudevent)
			VALUES (gen_random_uuid(), 'task-events', $1, 'TaskCreated', $2)`, strconv.FormatInt(id, 10), ceBody)
		return err
	})
}

// settle lets the next step start on a quiet PostgreSQL: a checkpoint, and
// a vacuum of the system's database (when given) so that autovacuum does not
// start on the rows of the step before in the middle of the next one.
func settle(ctx context.Context, adminURL, dbURL string) error {
	for _, c := range []struct{ url, sql string }{{adminURL, "CHECKPOINT"}, {dbURL, "VACUUM (ANALYZE)"}} {
		if c.url == "" {
			continue
		}
		conn, err := pgx.Connect(ctx, c.url)
		if err != nil {
			return fmt.Errorf("settle: %w", err)
		}
		_, err = conn.Exec(ctx, c.sql)
		_ = conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("settle: %s: %w", c.sql, err)
		}
	}
	return nil
}

// waitDrained waits until the relay has published every event and, when
// audit-service runs, audit-service has recorded them all.
func waitDrained(ctx context.Context, db *pgxpool.Pool, audit bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var pending, audited, total int
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM outbox`).Scan(&pending, &total); err != nil {
			return err
		}
		audited = total
		if audit {
			if err := db.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&audited); err != nil {
				return err
			}
		}
		if pending == 0 && audited >= total {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("system did not drain: %d pending, %d of %d audited", pending, audited, total)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package bench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/pgtest"
)

// The benchmark in smoke mode: every step runs at a tiny size. It checks
// that `make bench` works and that every event arrived, not the numbers.
func TestBenchSmoke(t *testing.T) {
	root, err := devstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := devstack.FindDaprd(root); !ok {
		if os.Getenv("CI") != "" {
			t.Fatal("daprd is not built; make test builds it first")
		}
		t.Skip("daprd is not built; run make daprd")
	}
	cfg := SmokeConfig()
	cfg.Root, cfg.Out, cfg.ProcOut, cfg.AdminURL = root, io.Discard, io.Discard, pgtest.AdminURL()
	cfg.ProfileDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int{1, 8} {
		if rep.Baseline[c].Ops == 0 || rep.API[c].Ops == 0 {
			t.Errorf("%d clients: baseline %d ops, API %d ops", c, rep.Baseline[c].Ops, rep.API[c].Ops)
		}
	}
	atMax := false
	for _, e := range rep.E2E {
		atMax = atMax || e.AtAPIMax
		if e.Sent == 0 || e.AuditDelivered != e.Sent || e.RecurringDelivered != e.Completed || !e.WebMeasured || e.WebDelivered != e.Sent {
			t.Errorf("rate %d: sent %d audited %d pushed %d; completed %d next %d", e.Rate, e.Sent, e.AuditDelivered, e.WebDelivered, e.Completed, e.RecurringDelivered)
		}
	}
	if !atMax {
		t.Error("no end-to-end phase at the API's own maximum rate")
	}
	// Every process of the system used some CPU for the writes, PostgreSQL
	// (its backends) included.
	cost := map[string]float64{}
	for _, p := range rep.Cost.PerProc {
		cost[p.Name] = p.CoresPerKOps
	}
	for _, name := range []string{"todo-api", "daprd todo-api", "audit-service", "daprd audit-service", postgresName} {
		if cost[name] <= 0 {
			t.Errorf("cost of %s: %.3f cores per 1,000 writes/s (%d writes)", name, cost[name], rep.Cost.Writes)
		}
	}
	if len(rep.Soak) < 3 || rep.Soak[len(rep.Soak)-1].Changes == 0 {
		t.Errorf("soak: %d readings, %+v", len(rep.Soak), rep.Soak)
	} else if last := rep.Soak[len(rep.Soak)-1]; last.Flooded == 0 || last.Metrics["todo-api"][0] <= 0 || last.Metrics["web-app"][0] <= 0 {
		t.Errorf("soak: %d made-up requests answered, the apps' /metrics %v", last.Flooded, last.Metrics)
	}
	for _, m := range rep.Metrics {
		if m.IdleBytes <= 0 || m.LoadedBytes <= 0 {
			t.Errorf("%s: /metrics %d and %d bytes", m.Name, m.IdleBytes, m.LoadedBytes)
		}
	}
	if len(rep.Sweeps) != len(SweepReminders) {
		t.Errorf("%d sweeps, want one per count of %v", len(rep.Sweeps), SweepReminders)
	}
	for _, s := range rep.Sweeps {
		if s.Published != cfg.SweepDue || !s.UsesIndex || s.PageTime <= 0 {
			t.Errorf("sweep with %d reminders a task published %d of %d, first page %s, index used %v\n%s",
				s.Reminders, s.Published, cfg.SweepDue, s.PageTime, s.UsesIndex, s.Plan)
		}
	}
	if want := 2*len(devstack.Apps) + 2; len(rep.Idle) != want || len(rep.Load) != want {
		t.Errorf("footprint of %d/%d processes, want %d (every app, its sidecar, the broker, PostgreSQL)", len(rep.Idle), len(rep.Load), want)
	}
	w := rep.Web
	if w.Pushed != cfg.WebStreams || w.StreamsOpened != cfg.WebIdle || w.IdleStreams != cfg.WebIdle {
		t.Errorf("web: %d of %d reminders pushed; %d idle streams counted by web-app, want %d", w.Pushed, cfg.WebStreams, w.StreamsOpened, cfg.WebIdle)
	}
	// A size, not a speed: the first load stays under 100 KB compressed.
	if w.PageFiles < 3 || w.PageBytes <= 0 || w.PageBytes > 100_000 {
		t.Errorf("web: first load %d files, %d bytes compressed; want the page, its style and script, under 100 KB", w.PageFiles, w.PageBytes)
	}
	for _, a := range devstack.Apps {
		// A CPU profile starts with gzip's magic number.
		b, err := os.ReadFile(filepath.Join(cfg.ProfileDir, a.ID+".pprof"))
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("CPU profile of %s: %v, %d bytes", a.ID, err, len(b))
		}
	}
	md := rep.Markdown()
	for _, want := range []string{"POST /api/tasks", "Reminder sweep", "daprd todo-api", "Web app", "idle streams"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	t.Log("\n" + md)
}

package bench

import (
	"strings"
	"testing"
	"time"
)

// A step that did not run is reported as not run, never as zeros that read
// like a result.
func TestMarkdownMarksStepsThatDidNotRun(t *testing.T) {
	full := &Report{
		When: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Machine: "2 cores",
		Baseline: map[int]Throughput{1: {PerSecond: 2000}, 8: {PerSecond: 4000}},
		API:      map[int]Throughput{1: {PerSecond: 500}, 8: {PerSecond: 1000}},
		E2E: []E2E{{Rate: 100, Target: 1000, Sent: 1000, AchievedRate: 100, AuditDelivered: 1000, Completed: 1000, RecurringDelivered: 1000,
			WebMeasured: true, WebDelivered: 1000, WebP99: 20 * time.Millisecond},
			{Rate: 1000, AtAPIMax: true, Target: 10000, Sent: 9000, AuditDelivered: 9000, Completed: 9000, RecurringDelivered: 9000,
				WebMeasured: true, WebDelivered: 9000}},
		Sweeps: []Sweep{{Tasks: 1000, Due: 10, Published: 10, Reminders: 1, Duration: time.Second, PageTime: time.Millisecond, UsesIndex: true},
			{Tasks: 1000, Due: 10, Published: 10, Reminders: 3, Duration: 1200 * time.Millisecond, PageTime: 2 * time.Millisecond, UsesIndex: true}},
		Idle:         []Footprint{{Name: "todo-api", RSSMiB: 20}},
		Load:         []Footprint{{Name: "todo-api", RSSMiB: 30, CPU: 0.3}},
		Cost:         Cost{Writes: 10000, Window: 12 * time.Second, PerProc: []ProcCost{{"todo-api", 0.5}, {postgresName, 1.25}}},
		BaselineCost: 0.7,
		Soak: []SoakSample{{Mem: map[string]float64{"todo-api": 30}, Tasks: 10},
			{At: time.Minute, Mem: map[string]float64{"todo-api": 31}, Tasks: 1000, Changes: 2000}},
	}
	onlySweep := &Report{When: full.When, Machine: full.Machine, Baseline: map[int]Throughput{}, API: map[int]Throughput{},
		Sweeps: full.Sweeps, Idle: full.Idle, Only: []string{"sweep"}}
	onlyAPI := &Report{When: full.When, Machine: full.Machine, Baseline: map[int]Throughput{},
		API: full.API, Idle: full.Idle, Load: full.Load, Only: []string{"api"}, OnlyApps: []string{"todo-api"}}

	tests := []struct {
		name          string
		rep           *Report
		want, notWant []string
	}{
		{"every step", full,
			[]string{"| insert task + outbox row (raw SQL) | 8 | 4000 |", "| POST /api/tasks | 8 | 1000 |", "| 25% |",
				"Highest sustainable of these rates", ": 100/s.", "| 3 | 3000 | 10 of 10 | 1.2s | 1.20 | 2ms | 2.00 | true |", "| todo-api | 20.0 MiB | 0.00 cores | 30.0 MiB | 0.30 cores |",
				"| 1000/s (the API's 8-client maximum) | 9000 of 10000 (0/s) |", "| 0.0 ms / 20.0 ms | 1000 of 1000 |",
				"| **whole system** | **1.75** |",
				"| our own processes (the apps) | 0.50 |", "| raw baseline (its Go client and PostgreSQL, 8 clients) | 0.70 |",
				"costs 2.50 times the raw baseline per write; the apps' share is 29%", "| todo-api | 30.0 MiB | 31.0 MiB | 31.0 MiB |", "10 → 1000 rows in tasks"},
			[]string{"Not run", "not run", "Only these"}},
		{"only the sweep", onlySweep,
			[]string{"Only these steps ran: sweep.", "### End to end at fixed rates\n\nNot run.", "| 1 | 1000 | 10 of 10 | 1s | 1.00 |",
				"| todo-api | 20.0 MiB | 0.00 cores | not run | not run |"},
			[]string{"insert task + outbox row (raw SQL) |", "| POST /api/tasks |", "Highest sustainable", "CPU per task change"}},
		{"only the API, todo-api alone", onlyAPI,
			[]string{"Only these apps (and their sidecars) ran: todo-api.", "| POST /api/tasks | 8 | 1000 |", "| not run |",
				"### Reminder sweep\n\nNot run."},
			[]string{"insert task + outbox row (raw SQL) |", "Highest sustainable", "reminders a task"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := tt.rep.Markdown()
			for _, w := range tt.want {
				if !strings.Contains(md, w) {
					t.Errorf("report lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(md, w) {
					t.Errorf("report has %q:\n%s", w, md)
				}
			}
		})
	}
}

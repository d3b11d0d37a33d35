package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
)

// SoakSample is one reading of the soak step.
type SoakSample struct {
	At      time.Duration // since the soak's start
	Tasks   int           // rows in the tasks table
	Changes int           // task changes sent so far (create, complete)
	Mem     map[string]float64
	Metrics map[string][2]int // sidecar -> bytes, samples of its /metrics
}

// soak creates and completes a recurring task SoakRate times a second for
// cfg.Soak (each one three task changes, with the next occurrence), and
// reads every process's memory and every sidecar's /metrics size at the
// start and every SoakSample.
func soak(ctx context.Context, sys *devstack.System, db *pgxpool.Pool, api *client.Client, cfg Config) ([]SoakSample, error) {
	due := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	start := time.Now()
	changes := 0
	read := func() (SoakSample, error) {
		s := SoakSample{At: time.Since(start).Round(time.Second), Changes: changes, Mem: map[string]float64{}, Metrics: sidecarMetrics(ctx, sys)}
		for _, g := range processes(sys) {
			s.Mem[g.name] = g.memMiB()
		}
		err := db.QueryRow(ctx, `SELECT count(*) FROM tasks`).Scan(&s.Tasks)
		return s, err
	}
	first, err := read()
	if err != nil {
		return nil, err
	}
	out := []SoakSample{first}
	var failed atomic.Int64
	for time.Since(start) < cfg.Soak {
		_, sent, _ := openLoop(ctx, cfg.SoakRate, cfg.SoakSample, func(int) {
			tk, err := api.CreateTask(ctx, client.NewTask{Title: "soak", Recurrence: client.RecurrenceDaily, DueAt: &due})
			if err == nil {
				_, err = api.CompleteTask(ctx, tk.ID)
			}
			if err != nil {
				failed.Add(1)
			}
		})
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		changes += 2 * sent
		s, err := read()
		if err != nil {
			return out, err
		}
		out = append(out, s)
		say(cfg.Out, "    %s: %d tasks, todo-api %.1f MiB, its daprd %.1f MiB, /metrics %d B", s.At, s.Tasks,
			s.Mem["todo-api"], s.Mem["daprd todo-api"], s.Metrics["daprd todo-api"][0])
	}
	if n := failed.Load(); n > 0 {
		return out, fmt.Errorf("%d of the soak's calls failed", n)
	}
	return out, nil
}

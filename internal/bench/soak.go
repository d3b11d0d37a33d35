package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/flood"
)

// SoakSample is one reading of the soak step.
type SoakSample struct {
	At      time.Duration // since the soak's start
	Tasks   int           // rows in the tasks table
	Changes int           // task changes sent so far (create, complete)
	Flooded int64         // made-up requests answered so far
	Mem     map[string]float64
	Metrics map[string][2]int // process (app or sidecar) -> bytes, samples of its /metrics
}

// soakFloodPerSecond is the pace of the made-up requests at each port of
// each app during the soak.
const soakFloodPerSecond = 20

// soak creates and completes a recurring task SoakRate times a second for
// cfg.Soak (each one three task changes, with the next occurrence), and
// reads every process's memory and every app's and sidecar's /metrics
// size at the start and every SoakSample. All the while, every port of
// every app (public, app port, metrics) gets made-up requests, each with a
// method, path, header and now and then a Host of its own (flood), which
// must not grow anything.
func soak(ctx context.Context, sys *devstack.System, db *pgxpool.Pool, api *client.Client, cfg Config) ([]SoakSample, error) {
	due := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	start := time.Now()
	changes := 0
	fctx, stopFlood := context.WithCancel(ctx)
	flooded, floodDone := floodEveryPort(fctx, sys)
	defer func() { stopFlood(); <-floodDone }()
	read := func() (SoakSample, error) {
		s := SoakSample{At: time.Since(start).Round(time.Second), Changes: changes, Flooded: flooded.Load(),
			Mem: map[string]float64{}, Metrics: sidecarMetrics(ctx, sys)}
		for _, a := range devstack.Apps {
			if inst := sys.Instances[a.ID]; inst != nil {
				b, n := metricsSize(ctx, inst.MetricsURL())
				s.Metrics[a.ID] = [2]int{b, n}
			}
		}
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
		say(cfg.Out, "    %s: %d tasks, %d made-up requests, todo-api %.1f MiB (/metrics %d B), web-app %.1f MiB (/metrics %d B), daprd todo-api %.1f MiB",
			s.At, s.Tasks, s.Flooded, s.Mem["todo-api"], s.Metrics["todo-api"][0], s.Mem["web-app"], s.Metrics["web-app"][0], s.Mem["daprd todo-api"])
	}
	if n := failed.Load(); n > 0 {
		return out, fmt.Errorf("%d of the soak's calls failed", n)
	}
	return out, nil
}

// floodEveryPort sends made-up requests to every port of every app until
// ctx ends; answered counts those answered, and done is closed once every
// sender has stopped.
func floodEveryPort(ctx context.Context, sys *devstack.System) (answered *atomic.Int64, done <-chan struct{}) {
	answered = &atomic.Int64{}
	var wg sync.WaitGroup
	for _, a := range devstack.Apps {
		inst := sys.Instances[a.ID]
		if inst == nil {
			continue
		}
		addrs := []string{strings.TrimPrefix(inst.AppURL(), "http://")}
		if inst.URL() != "" {
			addrs = append(addrs, strings.TrimPrefix(inst.URL(), "http://"))
		}
		if u, err := url.Parse(inst.MetricsURL()); err == nil {
			addrs = append(addrs, u.Host)
		}
		for i, addr := range addrs {
			wg.Go(func() {
				for ctx.Err() == nil {
					_, _ = flood.Port(ctx, addr, flood.Config{Requests: 1 << 30, Connections: 1, PerSecond: soakFloodPerSecond,
						Seed: uint64(time.Now().UnixNano()) + uint64(i), Answered: answered})
				}
			})
		}
	}
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return answered, ch
}

package bench

import (
	"fmt"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// Markdown renders the report as the tables of docs/benchmarks.md. A step
// that did not run (Config.Only) is marked so, not shown as zeros.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s on %s.\n\n", r.When.Format("2006-01-02 15:04 MST"), r.Machine)
	if len(r.OnlyApps) > 0 {
		fmt.Fprintf(&b, "Only these apps (and their sidecars) ran: %s.\n\n", strings.Join(r.OnlyApps, ", "))
	}
	if len(r.Only) > 0 {
		fmt.Fprintf(&b, "Only these steps ran: %s.\n\n", strings.Join(r.Only, ", "))
	}
	fmt.Fprintf(&b, "### Writes: raw PostgreSQL baseline and the API\n\n")
	fmt.Fprintf(&b, "| write | clients | per second | p50 | p90 | p99 | vs baseline |\n|---|---|---|---|---|---|---|\n")
	if r.ran("baseline") {
		for _, c := range []int{1, 8} {
			bl := r.Baseline[c]
			fmt.Fprintf(&b, "| insert task + outbox row (raw SQL) | %d | %.0f | %s | %s | %s | 100%% |\n", c, bl.PerSecond, ms(bl.P50), ms(bl.P90), ms(bl.P99))
		}
	}
	if r.ran("api") {
		for _, c := range []int{1, 8} {
			a, bl := r.API[c], r.Baseline[c]
			ratio := "not run"
			if bl.PerSecond > 0 {
				ratio = fmt.Sprintf("%.0f%%", 100*a.PerSecond/bl.PerSecond)
			}
			fmt.Fprintf(&b, "| POST /api/tasks | %d | %.0f | %s | %s | %s | %s |\n", c, a.PerSecond, ms(a.P50), ms(a.P90), ms(a.P99), ratio)
		}
	}
	fmt.Fprintf(&b, "\n### End to end at fixed rates\n\n")
	if r.ran("e2e") {
		fmt.Fprintf(&b, "| target rate | creates sent of due (rate sent) | API write → audit-service handled p50 / p99 | delivered | completion → next occurrence created p50 / p99 | delivered | API write → web-app's push in the user's stream p50 / p99 | delivered |\n|---|---|---|---|---|---|---|---|\n")
		for _, e := range r.E2E {
			rate := fmt.Sprintf("%d/s", e.Rate)
			if e.AtAPIMax {
				rate += " (the API's 8-client maximum)"
			}
			web := "not run | not run"
			if e.WebMeasured {
				web = fmt.Sprintf("%s / %s | %d of %d", ms(e.WebP50), ms(e.WebP99), e.WebDelivered, e.Sent)
				if e.WebCuts > 0 {
					web += fmt.Sprintf(" (stream cut for lagging %d times so far)", e.WebCuts)
				}
			}
			fmt.Fprintf(&b, "| %s | %d of %d (%.0f/s) | %s / %s | %d of %d | %s / %s | %d of %d | %s |\n", rate, e.Sent, e.Target, e.AchievedRate,
				ms(e.AuditP50), ms(e.AuditP99), e.AuditDelivered, e.Sent, ms(e.RecurringP50), ms(e.RecurringP99), e.RecurringDelivered, e.Completed, web)
		}
		best := 0
		for _, e := range r.E2E {
			if e.Sustainable() && e.Rate > best {
				best = e.Rate
			}
		}
		fmt.Fprintf(&b, "\nHighest sustainable of these rates (at least 95%% of the due creates sent, every event delivered, every path's p99 under 1 s): ")
		if best > 0 {
			fmt.Fprintf(&b, "%d/s.\n", best)
		} else {
			fmt.Fprintf(&b, "none.\n")
		}
	} else {
		fmt.Fprintf(&b, "Not run.\n")
	}
	fmt.Fprintf(&b, "\n### Web app\n\n")
	if r.ran("web") {
		w := r.Web
		fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
		fmt.Fprintf(&b, "| first page load, gzip transfer size | %.1f KB in %d files (largest %s: %.1f KB) |\n",
			float64(w.PageBytes)/1000, w.PageFiles, w.LargestFile, float64(w.LargestBytes)/1000)
		fmt.Fprintf(&b, "| reminder pushed to %d open pages (distinct users), sweep start → event in the page's stream | p50 %s, p99 %s, %d of %d arrived |\n",
			w.Streams, ms(w.PushP50), ms(w.PushP99), w.Pushed, w.Streams)
		fmt.Fprintf(&b, "| web-app RSS before → with %d idle streams (server counted %d) | %.1f → %.1f MiB (%.1f KiB per stream) |\n",
			w.IdleStreams, w.StreamsOpened, w.RSSBeforeMiB, w.RSSIdleMiB, w.PerStreamKiB)
		fmt.Fprintf(&b, "| web-app CPU holding them; its daprd's RSS | %.3f cores; %.1f MiB |\n", w.IdleCPUCores, w.SidecarMiB)
	} else {
		fmt.Fprintf(&b, "Not run.\n")
	}
	fmt.Fprintf(&b, "\n### Reminder sweep\n\n")
	if r.ran("sweep") && len(r.Sweeps) > 0 {
		first := r.Sweeps[0]
		fmt.Fprintf(&b, "%d tasks, %d of them with a reminder due; the table filled afresh for each count of reminders a task.\n\n", first.Tasks, first.Due)
		fmt.Fprintf(&b, "| reminders a task | rows in the schedule | published | whole sweep | × the first | first page (200), median of 5 | × the first | index used |\n|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Sweeps {
			fmt.Fprintf(&b, "| %d | %d | %d of %d | %s | %.2f | %s | %.2f | %v |\n", s.Reminders, s.Tasks*s.Reminders, s.Published, s.Due,
				s.Duration.Round(time.Millisecond), ratio(s.Duration, first.Duration),
				s.PageTime.Round(10*time.Microsecond), ratio(s.PageTime, first.PageTime), s.UsesIndex)
		}
		last := r.Sweeps[len(r.Sweeps)-1]
		fmt.Fprintf(&b, "\nThe plan with %d reminders a task:\n\n```\n%s\n```\n", last.Reminders, last.Plan)
	} else {
		fmt.Fprintf(&b, "Not run.\n")
	}
	fmt.Fprintf(&b, "\n### Footprint\n\n| process | RSS idle | CPU idle | RSS under load | CPU under load (8 API clients) |\n|---|---|---|---|---|\n")
	load := map[string]Footprint{}
	for _, f := range r.Load {
		load[f.Name] = f
	}
	for _, f := range r.Idle {
		l, ok := load[f.Name]
		under := "not run | not run"
		if ok {
			under = fmt.Sprintf("%.1f MiB | %.2f cores", l.RSSMiB, l.CPU)
		}
		fmt.Fprintf(&b, "| %s | %.1f MiB | %.2f cores | %s |\n", f.Name, f.RSSMiB, f.CPU, under)
	}
	if len(r.Cost.PerProc) > 0 {
		fmt.Fprintf(&b, "\n### CPU per task change\n\n%d writes under 8 API clients, from the phase's start until every consumer had caught up (%s): each process's CPU seconds per 1,000 writes, which is its cores per 1,000 writes/s.\n\n",
			r.Cost.Writes, r.Cost.Window.Round(100*time.Millisecond))
		fmt.Fprintf(&b, "| process | cores per 1,000 writes/s |\n|---|---|\n")
		for _, p := range r.Cost.PerProc {
			fmt.Fprintf(&b, "| %s | %.2f |\n", p.Name, p.CoresPerKOps)
		}
		fmt.Fprintf(&b, "| our own processes (the apps) | %.2f |\n", r.Cost.Ours())
		fmt.Fprintf(&b, "| **whole system** | **%.2f** |\n", r.Cost.Total())
		if times := r.TimesBaseline(); times > 0 {
			fmt.Fprintf(&b, "| raw baseline (its Go client and PostgreSQL, 8 clients) | %.2f |\n", r.BaselineCost)
			fmt.Fprintf(&b, "\nThe whole system costs %.2f times the raw baseline per write; the apps' share is %.0f%%.\n",
				times, 100*r.Cost.Ours()/r.Cost.Total())
		}
	}
	if len(r.Metrics) > 0 {
		fmt.Fprintf(&b, "\n### Sidecars' /metrics pages\n\n| sidecar | idle | after the API and end-to-end steps |\n|---|---|---|\n")
		for _, m := range r.Metrics {
			fmt.Fprintf(&b, "| %s | %.1f KB, %d samples | %.1f KB, %d samples |\n", m.Name, float64(m.IdleBytes)/1000, m.IdleSeries, float64(m.LoadedBytes)/1000, m.LoadedSeries)
		}
	}
	fmt.Fprintf(&b, "\n### Soak\n\n")
	if len(r.Soak) > 1 {
		first, last := r.Soak[0], r.Soak[len(r.Soak)-1]
		fmt.Fprintf(&b, "%s of recurring tasks created and completed (%d task changes sent; %d → %d rows in tasks), under a flood of %d made-up requests (each with a method, a path and a header of its own, and now and then a Host) at every port of every app, %d a second a port. Memory (RSS; PostgreSQL: Pss summed) and each app's and sidecar's /metrics, at the start, the highest of the later readings, and the end (%d readings):\n\n",
			last.At, last.Changes, first.Tasks, last.Tasks, last.Flooded, soakFloodPerSecond, len(r.Soak))
		fmt.Fprintf(&b, "| process | memory start | highest | end | /metrics start | /metrics end |\n|---|---|---|---|---|---|\n")
		for _, g := range r.Idle { // every process, in the system's order
			var hi float64
			for _, s := range r.Soak[1:] {
				hi = max(hi, s.Mem[g.Name])
			}
			page := "— | —"
			if m, ok := first.Metrics[g.Name]; ok {
				page = fmt.Sprintf("%.1f KB, %d samples | %.1f KB, %d samples", float64(m[0])/1000, m[1], float64(last.Metrics[g.Name][0])/1000, last.Metrics[g.Name][1])
			}
			fmt.Fprintf(&b, "| %s | %.1f MiB | %.1f MiB | %.1f MiB | %s |\n", g.Name, first.Mem[g.Name], hi, last.Mem[g.Name], page)
		}
	} else {
		fmt.Fprintf(&b, "Not run.\n")
	}
	return b.String()
}

func (r *Report) ran(step string) bool { return Config{Only: r.Only}.runs(step) }

// Sustainable reports whether the system kept up with the phase's rate.
func (e E2E) Sustainable() bool {
	return float64(e.Sent) >= 0.95*float64(e.Target) && e.Sent > 0 && e.AuditDelivered == e.Sent &&
		e.RecurringDelivered == e.Completed && e.AuditP99 < time.Second && e.RecurringP99 < time.Second &&
		(!e.WebMeasured || (e.WebDelivered == e.Sent && e.WebP99 < time.Second))
}

// ratio is a/b, 0 when b is.
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

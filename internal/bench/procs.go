package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/devstack"
)

// Footprint of one process (or, for PostgreSQL, all of its processes).
type Footprint struct {
	Name   string
	RSSMiB float64
	CPU    float64 // cores used during the window
}

// procGroup is one process of the system, or all of PostgreSQL's: its
// backends (one per connection, the system's and the bench's), the
// checkpointer, the WAL writer and the rest.
type procGroup struct {
	name string
	pids []int
}

// postgresName is the name of PostgreSQL's row in the tables.
const postgresName = "PostgreSQL (all its processes)"

// processes lists every app and sidecar of sys, the broker, and
// PostgreSQL's processes as they are now.
func processes(sys *devstack.System) []procGroup {
	var out []procGroup
	for _, a := range devstack.Apps {
		if inst := sys.Instances[a.ID]; inst != nil {
			out = append(out, procGroup{a.ID, []int{inst.Proc.Pid()}}, procGroup{"daprd " + a.ID, []int{inst.Daprd.Pid()}})
		}
	}
	switch {
	case sys.Broker != nil:
		out = append(out, procGroup{brokerName(sys.BrokerKind), []int{sys.Broker.Pid()}})
	case sys.BrokerKind == devstack.RabbitMQ:
		// The machine's server, which the system shares (a virtual host of
		// its own): idle but for this system while the bench runs.
		out = append(out, procGroup{rabbitMQName, pidsNamed("beam.smp")})
	}
	out = append(out, procGroup{postgresName, pidsNamed("postgres")})
	return out
}

// rabbitMQName is the name of the row of the machine's RabbitMQ server.
const rabbitMQName = "rabbitmq broker (the machine's server)"

// brokerName is the name of the broker's row in the tables.
func brokerName(b devstack.Broker) string {
	if b == devstack.Kafka {
		return "devbroker"
	}
	return string(b) + " broker"
}

// pidsNamed are the processes of this machine whose name (comm) is name:
// PostgreSQL's server and its children, RabbitMQ's Erlang VM.
func pidsNamed(name string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); err == nil && strings.TrimSpace(string(b)) == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuSnapshot is the CPU time used so far by each process of each group.
type cpuSnapshot map[string]map[int]float64

// benchName is the bench process's own group: the raw baseline's client.
const benchName = "bench"

// snapshotBaselineCPU is the CPU used so far by the raw baseline's
// processes: this one and PostgreSQL's.
func snapshotBaselineCPU() cpuSnapshot {
	snap := cpuSnapshot{benchName: {os.Getpid(): cpuSeconds(os.Getpid())}, postgresName: {}}
	for _, pid := range pidsNamed("postgres") {
		snap[postgresName][pid] = cpuSeconds(pid)
	}
	return snap
}

func snapshotCPU(sys *devstack.System) cpuSnapshot {
	snap := cpuSnapshot{}
	for _, g := range processes(sys) {
		snap[g.name] = map[int]float64{}
		for _, pid := range g.pids {
			snap[g.name][pid] = cpuSeconds(pid)
		}
	}
	return snap
}

// since returns the CPU seconds each group used from s to later. A process
// that started in between counts whole; one that ended is not counted (a
// PostgreSQL backend whose connection closed: the pools here keep theirs).
func (s cpuSnapshot) since(later cpuSnapshot) map[string]float64 {
	out := map[string]float64{}
	for name, procs := range later {
		for pid, t := range procs {
			out[name] += t - s[name][pid]
		}
	}
	return out
}

// memMiB is a group's memory: the VmRSS of its processes; for PostgreSQL the sum
// of its processes' Pss, so that the shared buffers count once.
func (g procGroup) memMiB() float64 {
	if g.name != postgresName {
		var mib float64
		for _, pid := range g.pids {
			mib += rssMiB(pid)
		}
		return mib
	}
	var kb float64
	for _, pid := range g.pids {
		kb += procField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	}
	return kb / 1024
}

// footprint samples the memory and CPU of every process over window.
func footprint(sys *devstack.System, window time.Duration) []Footprint {
	before := snapshotCPU(sys)
	time.Sleep(window)
	used := before.since(snapshotCPU(sys))
	var out []Footprint
	for _, g := range processes(sys) {
		out = append(out, Footprint{Name: g.name, RSSMiB: g.memMiB(), CPU: used[g.name] / window.Seconds()})
	}
	return out
}

// Cost is what the writes of one phase cost each process, in CPU: measured
// from the phase's start until every consumer caught up, so that work left
// queued at the phase's end counts too.
type Cost struct {
	Writes  int
	Window  time.Duration
	PerProc []ProcCost // in processes' order
}

// ProcCost is one process's CPU seconds per 1,000 writes, which is also its
// cores per 1,000 writes/s.
type ProcCost struct {
	Name         string
	CoresPerKOps float64
}

// Total is the whole system's cores per 1,000 writes/s.
func (c Cost) Total() float64 {
	var t float64
	for _, p := range c.PerProc {
		t += p.CoresPerKOps
	}
	return t
}

// Ours is the share of the system's own processes (the apps, not their
// sidecars, the broker or PostgreSQL).
func (c Cost) Ours() float64 {
	var t float64
	for _, p := range c.PerProc {
		if slices.ContainsFunc(devstack.Apps, func(a devstack.App) bool { return a.ID == p.Name }) {
			t += p.CoresPerKOps
		}
	}
	return t
}

// TimesBaseline is the whole system's CPU per write as a multiple of the
// raw baseline's, or 0 when either was not measured.
func (r *Report) TimesBaseline() float64 {
	if r.BaselineCost <= 0 || r.Cost.Writes == 0 {
		return 0
	}
	return r.Cost.Total() / r.BaselineCost
}

// vsBaseline is ", N times the raw baseline's" when both were measured.
func (r *Report) vsBaseline() string {
	if r.TimesBaseline() == 0 {
		return ""
	}
	return fmt.Sprintf(", %.2f times the raw baseline's %.2f", r.TimesBaseline(), r.BaselineCost)
}

func costOf(sys *devstack.System, before, after cpuSnapshot, writes int, window time.Duration) Cost {
	c := Cost{Writes: writes, Window: window}
	if writes == 0 {
		return c
	}
	used := before.since(after)
	for _, g := range processes(sys) {
		c.PerProc = append(c.PerProc, ProcCost{Name: g.name, CoresPerKOps: used[g.name] * 1000 / float64(writes)})
	}
	return c
}

// MetricsPage is the size of one sidecar's /metrics page at two moments.
type MetricsPage struct {
	Name                      string
	IdleBytes, IdleSeries     int
	LoadedBytes, LoadedSeries int
}

// sidecarMetrics reads every sidecar's /metrics page: bytes and samples.
func sidecarMetrics(ctx context.Context, sys *devstack.System) map[string][2]int {
	out := map[string][2]int{}
	for _, a := range devstack.Apps {
		inst := sys.Instances[a.ID]
		if inst == nil {
			continue
		}
		b, n := metricsSize(ctx, fmt.Sprintf("http://127.0.0.1:%d/metrics", inst.Sidecar.MetricsPort))
		out["daprd "+a.ID] = [2]int{b, n}
	}
	return out
}

// metricsSize fetches a Prometheus page and returns its size and the
// number of samples (lines that are not comments); -1, -1 when it fails.
func metricsSize(ctx context.Context, url string) (bytes, samples int) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, -1
	}
	defer resp.Body.Close()
	cr := &countingReader{r: resp.Body}
	sc := bufio.NewScanner(cr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			samples++
		}
	}
	return cr.n, samples
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func rssMiB(pid int) float64 {
	return procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:") / 1024
}

// procField reads a "Name:  123 kB" line of a /proc file, in kB.
func procField(path, name string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb
		}
	}
	return 0
}

// cpuSeconds reads utime+stime of pid (clock ticks of 1/100 s on Linux).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

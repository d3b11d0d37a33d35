package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/flood"
)

// scrape is one read of an app's /metrics page.
type scrape struct {
	bytes   int
	series  int // sample lines
	http    int // series of todo_http_requests_total
	methods map[string]bool
}

func scrapeMetrics(t *testing.T, metricsURL string) scrape {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatalf("GET %s: %v", metricsURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", metricsURL, resp.StatusCode, err)
	}
	s := scrape{bytes: len(body), methods: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s.series++
		if strings.HasPrefix(line, "todo_http_requests_total{") {
			s.http++
			if _, rest, ok := strings.Cut(line, `method="`); ok {
				m, _, _ := strings.Cut(rest, `"`)
				s.methods[m] = true
			}
		}
	}
	return s
}

// rssMiB is a process's resident memory.
func rssMiB(t *testing.T, p *devstack.Process) float64 {
	t.Helper()
	mib, err := p.RSSMiB()
	if err != nil {
		t.Fatal(err)
	}
	return mib
}

// portsOf are every port an app's binary listens on.
func portsOf(inst *devstack.Instance) map[string]string {
	ports := map[string]string{"app": strings.TrimPrefix(inst.AppURL(), "http://")}
	if inst.URL() != "" {
		ports["public"] = strings.TrimPrefix(inst.URL(), "http://")
	}
	u, _ := url.Parse(inst.MetricsURL())
	ports["metrics"] = u.Host
	return ports
}

// floodRequestsPerPort is how many made-up requests each port of each
// binary gets: tens of thousands per binary with its two or three ports.
const floodRequestsPerPort = 8000

// Made-up methods, paths, headers and Hosts, tens of thousands of each, at
// every port of every binary, through real HTTP: the metric series and the
// /metrics page stay bounded, and so does each process's memory. Before
// the fix, each distinct method was a series of its own for good (3,000
// methods of 10 KB grew a process by 50 MB and its page to 30 MB).
func TestFloodsOfMadeUpRequestsStayBounded(t *testing.T) {
	e := startSystem(t)
	type reading struct {
		before, after scrape
		rssBefore     float64
		rssAfter      float64
	}
	readings := map[string]*reading{}
	for name, inst := range e.sys.Instances {
		readings[name] = &reading{before: scrapeMetrics(t, inst.MetricsURL()), rssBefore: rssMiB(t, inst.Proc)}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := map[string]flood.Stats{}
	seed := uint64(time.Now().UnixNano())
	t.Logf("flood seed %d", seed)
	for name, inst := range e.sys.Instances {
		for port, addr := range portsOf(inst) {
			wg.Go(func() {
				st, err := flood.Port(ctx, addr, flood.Config{Requests: floodRequestsPerPort, Connections: 2, Seed: seed})
				if err != nil {
					t.Errorf("%s %s port: %v", name, port, err)
				}
				mu.Lock()
				sent[name+" "+port] = st
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for where, st := range sent {
		if st.Answered < floodRequestsPerPort*9/10 {
			t.Errorf("%s: %d of %d requests answered (%d connections reset)", where, st.Answered, st.Sent, st.Resets)
		}
		for code, n := range st.Status {
			if code >= 500 {
				t.Errorf("%s: %d answers %d", where, n, code)
			}
		}
	}
	for name, inst := range e.sys.Instances {
		r := readings[name]
		r.after, r.rssAfter = scrapeMetrics(t, inst.MetricsURL()), rssMiB(t, inst.Proc)
		t.Logf("%-21s /metrics %6d -> %6d bytes, %4d -> %4d series (%d of requests), RSS %5.1f -> %5.1f MiB",
			name, r.before.bytes, r.after.bytes, r.before.series, r.after.series, r.after.http, r.rssBefore, r.rssAfter)
		// Routes x standard methods and "other" x the statuses net/http
		// knows, and a duration histogram (14 lines) per route: a few
		// hundred series at the very most, where the thousands of made-up
		// methods would each have added theirs.
		if r.after.http > 300 || r.after.series-r.before.series > 1000 || r.after.bytes > 512<<10 {
			t.Errorf("%s: the flood grew /metrics to %d bytes and %d series (%d of requests)", name, r.after.bytes, r.after.series, r.after.http)
		}
		for m := range r.after.methods {
			if strings.HasPrefix(m, "M") {
				t.Errorf("%s: a made-up method is a label value: %.40q", name, m)
				break
			}
		}
		if !r.after.methods["other"] {
			t.Errorf("%s: the made-up methods were not counted as \"other\"", name)
		}
		if grew := r.rssAfter - r.rssBefore; grew > 64 {
			t.Errorf("%s: RSS grew by %.1f MiB under the flood", name, grew)
		}
	}
	// The system still works after it.
	tk := e.create(client.NewTask{Title: "after the flood"})
	if got := e.get(tk.ID); got.Title != "after the flood" {
		t.Errorf("after the flood: %+v", got)
	}
}

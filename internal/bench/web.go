package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
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

// Web is what the web step measured: web-app's first page load, reminders
// pushed to many open pages, and its footprint with many idle streams.
type Web struct {
	PageFiles     int    // files of the first load (the page and what it references)
	PageBytes     int    // their gzip-compressed transfer size
	LargestFile   string // the largest of them, and its compressed size
	LargestBytes  int
	Streams       int           // open pages (streams of distinct users) that each got a reminder
	Pushed        int           // reminders that reached their page
	PushP50       time.Duration // sweep start -> the reminder in the page's stream
	PushP99       time.Duration
	IdleStreams   int     // idle streams held open
	RSSBeforeMiB  float64 // web-app's RSS before and with the idle streams
	RSSIdleMiB    float64
	SidecarMiB    float64 // web-app's daprd with the idle streams
	PerStreamKiB  float64
	IdleCPUCores  float64 // web-app's CPU while holding them (heartbeats)
	StreamsOpened int     // streams the server counted (todo_web_streams)
}

// webPage signs user in to web-app at base and returns its HTTP client.
func webPage(ctx context.Context, base, user string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: webTransport}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/auth/dev", strings.NewReader(`{"user":`+strconv.Quote(user)+`}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return nil, fmt.Errorf("sign in %s: %d", user, resp.StatusCode)
	}
	return hc, nil
}

// webTransport holds every stream's connection: no per-host bound.
var webTransport = &http.Transport{MaxIdleConnsPerHost: 2000}

// openStream opens the stream of hc and calls onEvent for each event
// until ctx ends or the server ends the stream; it returns once the hello
// arrived, and a channel closed when the stream has ended.
func openStream(ctx context.Context, hc *http.Client, base string, onEvent func(event, data string, at time.Time)) (<-chan struct{}, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/stream", nil)
	resp, err := hc.Do(req) //nolint:bodyclose // the reader goroutine closes it
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("stream: %d", resp.StatusCode)
	}
	hello := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev, data string
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && ev != "":
				if ev == "hello" {
					once.Do(func() { close(hello) })
				} else if onEvent != nil {
					onEvent(ev, data, time.Now())
				}
				ev, data = "", ""
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	select {
	case <-hello:
		return ended, nil
	case <-time.After(30 * time.Second):
		return nil, errors.New("stream: no hello within 30s")
	}
}

// assetRef finds what a page or module loads: /assets/... URLs and
// relative module imports.
var assetRef = regexp.MustCompile(`(?:"|')(/assets/[A-Za-z0-9._/-]+|\./[A-Za-z0-9._/-]+\.js)(?:"|')`)

// pageWeight fetches the page and, transitively, every file it references,
// compressed, and sums the transfer sizes.
func pageWeight(ctx context.Context, base string) (files, total int, largest string, largestBytes int, err error) {
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := webTransport.RoundTrip(req)
		if err != nil {
			return 0, 0, "", 0, err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, "", 0, fmt.Errorf("GET %s: %d", p, resp.StatusCode)
		}
		files++
		total += len(raw)
		if len(raw) > largestBytes {
			largest, largestBytes = p, len(raw)
		}
		body := raw
		if resp.Header.Get("Content-Encoding") == "gzip" {
			body, err = gunzip(raw)
			if err != nil {
				return 0, 0, "", 0, err
			}
		}
		for _, m := range assetRef.FindAllStringSubmatch(string(body), -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "./") {
				ref = "/assets/" + strings.TrimPrefix(ref, "./")
			}
			queue = append(queue, ref)
		}
	}
	return files, total, largest, largestBytes, nil
}

// webStep measures web-app: page weight, reminder pushes to `streams` open
// pages, and the memory of `idle` idle streams.
func webStep(ctx context.Context, sys *devstack.System, cfg Config, streams, idle int) (Web, error) {
	var w Web
	inst := sys.Instances["web-app"]
	if inst == nil {
		return w, errors.New("web-app is not running")
	}
	base := inst.URL()
	var err error
	if w.PageFiles, w.PageBytes, w.LargestFile, w.LargestBytes, err = pageWeight(ctx, base); err != nil {
		return w, err
	}

	// Reminders to `streams` pages of distinct users, published by one sweep.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	apiHTTP := &http.Client{Timeout: 10 * time.Second, Transport: webTransport}
	past := time.Now().Add(-time.Minute).UTC()
	for i := range streams {
		user := "webbench" + strconv.Itoa(i)
		hc, err := webPage(ctx, base, user)
		if err != nil {
			return w, err
		}
		_, err = openStream(sctx, hc, base, func(ev, data string, at time.Time) {
			if ev == "reminder" && strings.Contains(data, `"title":"web bench `+user+`"`) {
				mu.Lock()
				if _, ok := arrived[user]; !ok {
					arrived[user] = at
				}
				mu.Unlock()
			}
		})
		if err != nil {
			return w, err
		}
		tok, err := auth.Mint(auth.Config{Secret: []byte(cfg.JWTSecret)}, user, time.Hour, time.Now())
		if err != nil {
			return w, err
		}
		if _, err := client.New(sys.APIURL(), tok, client.WithHTTPClient(apiHTTP)).CreateTask(ctx, client.NewTask{Title: "web bench " + user, ReminderAt: &past}); err != nil {
			return w, err
		}
	}
	w.Streams = streams
	time.Sleep(time.Second) // the task events go by first
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sys.Instances["reminder-service"].AppURL()+"/reminder-cron", nil)
	req.Header.Set("dapr-api-token", sys.AppToken("reminder-service"))
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return w, err
	}
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n == streams {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	var lat []time.Duration
	for _, at := range arrived {
		lat = append(lat, at.Sub(t0))
	}
	mu.Unlock()
	w.Pushed, w.PushP50, w.PushP99 = len(lat), pct(lat, .5), pct(lat, .99)
	cancel()

	// Idle streams: each of a user of its own, kept open.
	time.Sleep(2 * time.Second)
	w.RSSBeforeMiB = rssMiB(inst.Proc.Pid())
	ictx, icancel := context.WithCancel(ctx)
	defer icancel()
	for i := range idle {
		hc, err := webPage(ctx, base, "webidle"+strconv.Itoa(i))
		if err != nil {
			return w, err
		}
		if _, err := openStream(ictx, hc, base, nil); err != nil {
			return w, fmt.Errorf("idle stream %d: %w", i, err)
		}
	}
	w.IdleStreams = idle
	time.Sleep(3 * time.Second)
	fp := footprint(sys, 5*time.Second)
	for _, f := range fp {
		switch f.Name {
		case "web-app":
			w.RSSIdleMiB, w.IdleCPUCores = f.RSSMiB, f.CPU
		case "daprd web-app":
			w.SidecarMiB = f.RSSMiB
		}
	}
	if idle > 0 {
		w.PerStreamKiB = (w.RSSIdleMiB - w.RSSBeforeMiB) * 1024 / float64(idle)
	}
	w.StreamsOpened = int(scrapeGauge(ctx, inst.MetricsURL(), "todo_web_streams"))
	icancel()
	return w, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// scrapeGauge reads one unlabelled-by-us gauge from a /metrics page.
func scrapeGauge(ctx context.Context, url, name string) float64 {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return -1
}

// liveWatch is one open page of the bench user: it notes when each task
// event arrives in the stream.
type liveWatch struct {
	mu         sync.Mutex
	arrived    map[string]time.Time // event type + task id -> first arrival
	reconnects int                  // streams the server cut and the watch opened again
}

// watchLive signs user in to web-app and keeps a stream open until ctx ends.
func watchLive(ctx context.Context, base, user string) (*liveWatch, error) {
	hc, err := webPage(ctx, base, user)
	if err != nil {
		return nil, err
	}
	lw := &liveWatch{arrived: map[string]time.Time{}}
	onEvent := func(ev, data string, at time.Time) {
		if ev != "task" {
			return
		}
		var e struct {
			Type   string `json:"event_type"`
			TaskID int64  `json:"task_id"`
		}
		if json.Unmarshal([]byte(data), &e) != nil {
			return
		}
		k := e.Type + strconv.FormatInt(e.TaskID, 10)
		lw.mu.Lock()
		if _, ok := lw.arrived[k]; !ok {
			lw.arrived[k] = at
		}
		lw.mu.Unlock()
	}
	ended, err := openStream(ctx, hc, base, onEvent)
	if err != nil {
		return nil, err
	}
	// As a browser's EventSource does: a stream the server cut (it fell
	// 64 events behind) is opened again; what it missed meanwhile is not
	// pushed (the page re-syncs from the API), so it counts as not
	// delivered.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-ended:
			}
			lw.mu.Lock()
			lw.reconnects++
			lw.mu.Unlock()
			for {
				if ended, err = openStream(ctx, hc, base, onEvent); err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return lw, nil
}

// latencies waits (up to wait) until the events of type eventType of ids
// have all arrived, and returns how many did and their latencies from the
// tasks' created_at.
func (lw *liveWatch) latencies(ctx context.Context, db *pgxpool.Pool, eventType string, ids []int64, wait time.Duration) (int, []time.Duration, error) {
	rows, err := db.Query(ctx, `SELECT id, created_at FROM tasks WHERE id = ANY($1)`, ids)
	if err != nil {
		return 0, nil, err
	}
	type created struct {
		ID int64
		At time.Time
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[created])
	if err != nil {
		return 0, nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		var lat []time.Duration
		lw.mu.Lock()
		for _, c := range list {
			if at, ok := lw.arrived[eventType+strconv.FormatInt(c.ID, 10)]; ok {
				lat = append(lat, at.Sub(c.At))
			}
		}
		lw.mu.Unlock()
		if len(lat) >= len(list) || time.Now().After(deadline) {
			return len(lat), lat, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

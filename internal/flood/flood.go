// Package flood sends what an attacker with a socket sends to a server to
// grow its memory: requests whose method, path, headers and Host are each
// made up and never repeat, over raw keep-alive connections. The end-to-end
// tests and the bench's soak aim it at every port of every binary and
// check that metrics and memory stay bounded.
package flood

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says how much to send and how.
type Config struct {
	Requests    int // in all, spread over the connections
	Connections int // at once; default 4
	// MaxMethod is the longest made-up method; default 4096 (Go's server
	// takes any token as a method, up to its header limit).
	MaxMethod int
	Seed      uint64 // the same seed sends the same requests
	// PerSecond paces each connection at this many requests a second; 0
	// sends as fast as the server answers.
	PerSecond float64
	// Answered, when set, counts the answers as they come (Stats has them
	// only at the end).
	Answered *atomic.Int64
}

// Stats are what a flood sent and got back.
type Stats struct {
	Sent     int64
	Answered int64
	Status   map[int]int64 // answers by status
	Resets   int64         // connections the server closed
}

// Port floods the server at addr (host:port) until cfg.Requests have been
// sent or ctx ends.
func Port(ctx context.Context, addr string, cfg Config) (Stats, error) {
	if cfg.Connections <= 0 {
		cfg.Connections = 4
	}
	if cfg.MaxMethod <= 0 {
		cfg.MaxMethod = 4096
	}
	var next, sent, answered, resets atomic.Int64
	var mu sync.Mutex
	status := map[int]int64{}
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Connections)
	for c := range cfg.Connections {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					_ = conn.Close()
				}
			}()
			failures := 0
			var pace *time.Ticker
			if cfg.PerSecond > 0 {
				pace = time.NewTicker(time.Duration(float64(time.Second) / cfg.PerSecond))
				defer pace.Stop()
			}
			for ctx.Err() == nil {
				if pace != nil {
					select {
					case <-pace.C:
					case <-ctx.Done():
						return
					}
				}
				i := next.Add(1) - 1
				if i >= int64(cfg.Requests) {
					return
				}
				if conn == nil {
					d := net.Dialer{Timeout: 5 * time.Second}
					var err error
					if conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
						if failures++; failures > 20 {
							errs <- fmt.Errorf("flood %s: %w", addr, err)
							return
						}
						time.Sleep(50 * time.Millisecond)
						continue
					}
					br = bufio.NewReader(conn)
				}
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				sent.Add(1)
				if _, err := conn.Write(request(rng, addr, i, cfg.MaxMethod)); err != nil {
					resets.Add(1)
					_ = conn.Close()
					conn = nil
					continue
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					resets.Add(1)
					_ = conn.Close()
					conn = nil
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				failures = 0
				answered.Add(1)
				if cfg.Answered != nil {
					cfg.Answered.Add(1)
				}
				mu.Lock()
				status[resp.StatusCode]++
				mu.Unlock()
				if resp.Close {
					_ = conn.Close()
					conn = nil
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	st := Stats{Sent: sent.Load(), Answered: answered.Load(), Status: status, Resets: resets.Load()}
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return st, errors.Join(all...)
}

// tchar are the characters of an HTTP token (RFC 9110), so that every
// method reaches the handler instead of the server's own 400.
const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func token(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n)
	for range n {
		b.WriteByte(tchar[rng.IntN(len(tchar))])
	}
	return b.String()
}

func alnum(rng *rand.Rand, n int) string {
	const chars = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return string(b)
}

// request is the i-th made-up request: a method of its own (sometimes a
// standard one, so that routes match too), a path of its own, a header of
// its own, now and then a Host of its own.
func request(rng *rand.Rand, addr string, i int64, maxMethod int) []byte {
	method := fmt.Sprintf("M%d%s", i, token(rng, rng.IntN(maxMethod)))
	if rng.IntN(4) == 0 {
		method = []string{"GET", "POST", "DELETE", "PATCH", "PUT", "OPTIONS"}[rng.IntN(6)]
	}
	n := fmt.Sprint(i)
	paths := []string{"/", "/api/tasks", "/api/tasks/" + n, "/internal/tasks/" + n + "/next-occurrence", "/events/task-events",
		"/dapr/subscribe", "/metrics", "/healthz", "/session", "/x" + n + "/" + alnum(rng, 8), "/assets/" + n + ".js",
		"/.well-known/jwks.json"}
	p := paths[rng.IntN(len(paths))]
	host := addr
	if rng.IntN(8) == 0 {
		host = "h" + n + "." + alnum(rng, 6) + ".example"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s?q%d=%s HTTP/1.1\r\nHost: %s\r\nX-Flood-%d: %s\r\nUser-Agent: flood/%d\r\n",
		method, p, i, alnum(rng, 8), host, i, token(rng, 16), i)
	if method == "POST" || method == "PATCH" || method == "PUT" {
		b.WriteString("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	} else {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

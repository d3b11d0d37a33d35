package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// BuildBinaries compiles ./cmd/<name> for each name into dir.
func BuildBinaries(ctx context.Context, root, dir string, names ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./cmd/"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// Stack tracks the processes of a local system and stops them all on Close.
type Stack struct {
	Out    io.Writer // prefixed output of every process
	Daprd  string    // daprd binary
	BinDir string    // where BuildBinaries put this repository's binaries

	mu       sync.Mutex
	procs    []*Process
	cleanups []func()
	lock     *machineLock
}

// Processes are the processes started so far, running or not.
func (s *Stack) Processes() []*Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.procs)
}

// onClose has Close run f after every process stopped.
func (s *Stack) onClose(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *Stack) track(p *Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
}

// Close stops every process, the last started first.
func (s *Stack) Close() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(10 * time.Second)
	}
	s.mu.Lock()
	cleanups := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for _, f := range cleanups {
		f()
	}
	s.mu.Lock()
	s.lock.release()
	s.lock = nil
	s.mu.Unlock()
}

// StartApp runs one of this repository's binaries with env and waits until
// readyURL answers 2xx (no wait when readyURL is empty).
func (s *Stack) StartApp(ctx context.Context, name, binary string, env []string, readyURL string) (*Process, error) {
	p, err := Start(name, s.Out, env, filepath.Join(s.BinDir, binary))
	if err != nil {
		return nil, err
	}
	s.track(p)
	if readyURL == "" {
		return p, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, readyURL, p); err != nil {
		return p, fmt.Errorf("%s did not become ready: %w", name, err)
	}
	return p, nil
}

// StartSidecar runs daprd for sc and waits until its health endpoint
// answers, which daprd does once its components are loaded and its app
// (if any) is reachable.
func (s *Stack) StartSidecar(ctx context.Context, sc Sidecar, env []string) (*Process, error) {
	p, err := Start("daprd "+sc.AppID+"#"+strconv.Itoa(sc.AppPort), s.Out, env, s.Daprd, sc.Args()...)
	if err != nil {
		return nil, err
	}
	s.track(p)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, sc.HTTPEndpoint()+"/v1.0/healthz", p); err != nil {
		return p, fmt.Errorf("sidecar of %s did not become healthy: %w", sc.AppID, err)
	}
	return p, nil
}

package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Only one local system may run on a machine at a time: locally, Dapr finds
// apps by name over mDNS, so two todo-api instances of two systems would
// answer each other's service invocations. Up takes this lock (a flock on a
// file in the temp folder) and Close releases it; a second system waits for
// it or gives up.
var lockPath = filepath.Join(os.TempDir(), "todo-devstack.lock")

// ErrBusy is returned when another local system holds the machine.
var ErrBusy = errors.New("another todo system (make run, or a test package) is running on this machine; stop it first")

type machineLock struct{ f *os.File }

// lockMachine takes the machine lock, waiting up to wait (0: do not wait).
func lockMachine(ctx context.Context, wait time.Duration, say func(string)) (*machineLock, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("machine lock %s: %w", lockPath, err)
	}
	deadline := time.Now().Add(wait)
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &machineLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("machine lock %s: %w", lockPath, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, ErrBusy
		}
		if !told && say != nil {
			say("waiting for another todo system on this machine to stop (" + lockPath + ")")
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (l *machineLock) release() {
	if l != nil {
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	}
}

// LockMachine takes the machine lock for a caller that must start things
// of its own (such as a PostgreSQL cluster on a free port) before Up; it
// then passes Config.LockHeld. Call the returned function to release it.
func LockMachine(ctx context.Context, wait time.Duration, say func(string)) (func(), error) {
	l, err := lockMachine(ctx, wait, say)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

package store_test

import (
	"sync"
	"time"

	"github.com/evolution-todo/todo/internal/todoapi/store"
)

// testClock is the store's clock in a test: the real time unless set.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

// useClock makes s read its time from a testClock.
func useClock(s *store.Store) *testClock {
	c := &testClock{}
	store.SetClock(s, c.now)
	return c
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

// set stops the clock at t; the zero time lets it run again.
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}

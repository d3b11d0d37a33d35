// Package authtest holds test helpers for package auth: a manual clock that
// drives the JWKS refresh schedule (auth.Config.Clock), so that tests of
// key rotation and of forged-kid floods run in simulated time, fast and
// without depending on the machine's speed.
package authtest

import (
	"slices"
	"sync"
	"time"
)

// Clock is a manual clock: its time moves only with Advance. It satisfies
// auth.Clock and is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*timer]struct{}
}

type timer struct {
	at time.Time
	c  chan time.Time
}

// NewClock returns a Clock showing start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: map[*timer]struct{}{}}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Until returns a channel that receives the clock's time once it reaches at
// (at once when it already has), and a function that drops the timer.
func (c *Clock) Until(at time.Time) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: at, c: make(chan time.Time, 1)}
	if !at.After(c.now) {
		t.c <- c.now
		return t.c, func() {}
	}
	c.timers[t] = struct{}{}
	return t.c, func() {
		c.mu.Lock()
		delete(c.timers, t)
		c.mu.Unlock()
	}
}

// Advance moves the clock d forward and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now // buffered, sent once: the timer leaves the set now
			delete(c.timers, t)
		}
	}
}

// Timers returns the times the pending timers are set for, earliest first,
// so that a test can wait until the code under test has set the timer it
// expects before it advances the clock.
func (c *Clock) Timers() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := make([]time.Time, 0, len(c.timers))
	for t := range c.timers {
		ts = append(ts, t.at)
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

package ratelimit_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/ratelimit"
)

func TestDisabled(t *testing.T) {
	if l := ratelimit.New(ratelimit.Config{PerSecond: 0, Burst: 1}); l != nil {
		t.Fatal("rate 0 made a limiter")
	}
	var l *ratelimit.Limiter
	for range 1000 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatal("the disabled limiter limited")
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterBucket(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(ratelimit.Config{PerSecond: 1, Burst: 2, Now: clk.now})
	for i := range 2 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("write %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("alice")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third write: %v, wait %v; want refused, wait in (0, 1s]", ok, wait)
	}
	clk.advance(500 * time.Millisecond)
	if ok, wait := l.Allow("alice"); ok || wait > 500*time.Millisecond {
		t.Fatalf("half a second later: %v, wait %v", ok, wait)
	}
	clk.advance(500 * time.Millisecond)
	if ok, _ := l.Allow("alice"); !ok {
		t.Fatal("a second later: still refused")
	}
}

func TestLimiterEvictsIdleUsers(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(ratelimit.Config{PerSecond: 1, Burst: 2, IdleTTL: 10 * time.Minute, Now: clk.now})
	l.Allow("alice")
	l.Allow("bob")
	clk.advance(5 * time.Minute)
	l.Allow("carol")
	if n := l.Len(); n != 3 {
		t.Fatalf("tracked %d users, want 3", n)
	}
	clk.advance(6 * time.Minute) // alice and bob idle 11m, carol 6m
	l.Allow("dave")
	if n := l.Len(); n != 2 {
		t.Fatalf("after 11 idle minutes of alice and bob: tracked %d users, want 2 (carol, dave)", n)
	}
	l.Allow("carol") // seen again: stays
	clk.advance(9 * time.Minute)
	l.Allow("erin") // dave idle 9m+, carol 9m
	if n := l.Len(); n != 3 {
		t.Fatalf("tracked %d users, want 3", n)
	}
	clk.advance(time.Hour)
	l.Allow("frank")
	if n := l.Len(); n != 1 {
		t.Fatalf("after an idle hour: tracked %d users, want 1", n)
	}
}

// Forgetting a user must not hand out a fresh bucket early: with a slow
// rate, an idle entry is kept until its bucket would be full again.
func TestLimiterEvictionDoesNotLoosenTheLimit(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(ratelimit.Config{PerSecond: 0.001, Burst: 2, IdleTTL: 10 * time.Minute, Now: clk.now})
	l.Allow("alice")
	l.Allow("alice")
	if ok, _ := l.Allow("alice"); ok {
		t.Fatal("burst of 2 allowed 3")
	}
	clk.advance(11 * time.Minute) // 0.66 tokens back
	if ok, wait := l.Allow("alice"); ok || wait <= 0 {
		t.Fatalf("after 11 idle minutes the user got a fresh bucket (ok %v, wait %v)", ok, wait)
	}
	clk.advance(time.Hour) // full again, idle long enough: forgotten, then new
	l.Allow("bob")
	if n := l.Len(); n != 1 {
		t.Errorf("tracked %d users, want 1", n)
	}
}

func TestLimiterMaxKeys(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := ratelimit.New(ratelimit.Config{PerSecond: 1, Burst: 1, MaxKeys: 3, Now: clk.now})
	for i := range 100 {
		l.Allow("user" + strconv.Itoa(i))
		if n := l.Len(); n > 3 {
			t.Fatalf("tracked %d users, cap 3", n)
		}
	}
	// The most recently seen users are the ones kept: user99 is still
	// limited, user0 (forgotten) starts afresh.
	if ok, _ := l.Allow("user99"); ok {
		t.Error("user99 forgotten although among the most recent")
	}
	if ok, _ := l.Allow("user0"); !ok {
		t.Error("user0 still tracked past the cap")
	}
}

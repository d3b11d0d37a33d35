// Package ratelimit is a token bucket per key with bounded memory: the
// per-user write limit of todo-api, the per-address sign-in and stream
// limits of web-app.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of Config.
const (
	DefaultIdleTTL = 10 * time.Minute
	DefaultMaxKeys = 100_000
)

// Config configures a Limiter.
type Config struct {
	PerSecond float64          // sustained writes per second per user; <= 0 disables the limit
	Burst     int              // writes a user may make at once; less than 1 counts as 1
	IdleTTL   time.Duration    // a user unseen this long is forgotten; default 10m (never before the bucket is full again)
	MaxKeys   int              // most users tracked at once, the least recently seen forgotten first; default 100000
	Now       func() time.Time // clock, for tests; default time.Now
}

// Limiter is a token bucket per key (a user, a client address). Memory is
// bounded, whatever keys the callers make up: keys idle longer than IdleTTL
// are dropped (checked on every call, cheaply: the keys are kept in
// least-recently-seen order), and at most MaxKeys are tracked. It is safe
// for concurrent use. A nil *Limiter allows everything.
type Limiter struct {
	limit   rate.Limit
	burst   int
	ttl     time.Duration
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front: most recently seen
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// New returns a limiter, or nil (no limit) when c.PerSecond is
// not positive.
func New(c Config) *Limiter {
	if !(c.PerSecond > 0) {
		return nil
	}
	l := &Limiter{
		limit:   rate.Limit(c.PerSecond),
		burst:   max(c.Burst, 1),
		ttl:     c.IdleTTL,
		maxKeys: c.MaxKeys,
		now:     c.Now,
		keys:    map[string]*list.Element{},
	}
	if l.ttl <= 0 {
		l.ttl = DefaultIdleTTL
	}
	// Forgetting a key refills the bucket; do it only once it would have
	// refilled anyway, so that eviction never loosens the limit.
	if refill := time.Duration(float64(l.burst) / c.PerSecond * float64(time.Second)); refill > l.ttl {
		l.ttl = refill
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Allow takes one token from key's bucket. When the bucket is empty it
// answers false and how long until a token is back.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	b := l.bucket(key, now)
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// Len is the number of keys tracked.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

func (l *Limiter) evictIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.seen) <= l.ttl {
			return
		}
		l.remove(e)
	}
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.keys, l.lru.Remove(e).(*bucket).key)
}

func (l *Limiter) bucket(key string, now time.Time) *bucket {
	if e, ok := l.keys[key]; ok {
		l.lru.MoveToFront(e)
		b := e.Value.(*bucket)
		b.seen = now
		return b
	}
	for len(l.keys) >= l.maxKeys {
		l.remove(l.lru.Back())
	}
	b := &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst), seen: now}
	l.keys[key] = l.lru.PushFront(b)
	return b
}

// Rate is the sustained rate per key, per second.
func (l *Limiter) Rate() float64 { return float64(l.limit) }

// Burst is what a key may do at once.
func (l *Limiter) Burst() int { return l.burst }

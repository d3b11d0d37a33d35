package api

import (
	"container/list"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of WriteLimitConfig.
const (
	DefaultWriteLimitIdleTTL  = 10 * time.Minute
	DefaultWriteLimitMaxUsers = 100_000
)

// WriteLimitConfig configures a WriteLimiter.
type WriteLimitConfig struct {
	PerSecond float64          // sustained writes per second per user; <= 0 disables the limit
	Burst     int              // writes a user may make at once; less than 1 counts as 1
	IdleTTL   time.Duration    // a user unseen this long is forgotten; default 10m (never before the bucket is full again)
	MaxUsers  int              // most users tracked at once, the least recently seen forgotten first; default 100000
	Now       func() time.Time // clock, for tests; default time.Now
}

// WriteLimiter is a token bucket per user. Memory is bounded: users idle
// longer than IdleTTL are dropped (checked on every call, cheaply: the
// users are kept in least-recently-seen order), and at most MaxUsers are
// tracked. A nil *WriteLimiter allows everything.
type WriteLimiter struct {
	limit    rate.Limit
	burst    int
	ttl      time.Duration
	maxUsers int
	now      func() time.Time

	mu    sync.Mutex
	users map[string]*list.Element // of *userBucket
	lru   list.List                // front: most recently seen
}

type userBucket struct {
	user string
	lim  *rate.Limiter
	seen time.Time
}

// NewWriteLimiter returns a limiter, or nil (no limit) when c.PerSecond is
// not positive.
func NewWriteLimiter(c WriteLimitConfig) *WriteLimiter {
	if !(c.PerSecond > 0) {
		return nil
	}
	l := &WriteLimiter{
		limit:    rate.Limit(c.PerSecond),
		burst:    max(c.Burst, 1),
		ttl:      c.IdleTTL,
		maxUsers: c.MaxUsers,
		now:      c.Now,
		users:    map[string]*list.Element{},
	}
	if l.ttl <= 0 {
		l.ttl = DefaultWriteLimitIdleTTL
	}
	// Forgetting a user refills the bucket; do it only once it would have
	// refilled anyway, so that eviction never loosens the limit.
	if refill := time.Duration(float64(l.burst) / c.PerSecond * float64(time.Second)); refill > l.ttl {
		l.ttl = refill
	}
	if l.maxUsers <= 0 {
		l.maxUsers = DefaultWriteLimitMaxUsers
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Allow takes one token from user's bucket. When the bucket is empty it
// answers false and how long until a token is back.
func (l *WriteLimiter) Allow(user string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)
	b := l.bucket(user, now)
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// Len is the number of users tracked.
func (l *WriteLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.users)
}

func (l *WriteLimiter) evictIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		b := e.Value.(*userBucket)
		if now.Sub(b.seen) <= l.ttl {
			return
		}
		l.remove(e)
	}
}

func (l *WriteLimiter) remove(e *list.Element) {
	delete(l.users, l.lru.Remove(e).(*userBucket).user)
}

func (l *WriteLimiter) bucket(user string, now time.Time) *userBucket {
	if e, ok := l.users[user]; ok {
		l.lru.MoveToFront(e)
		b := e.Value.(*userBucket)
		b.seen = now
		return b
	}
	for len(l.users) >= l.maxUsers {
		l.remove(l.lru.Back())
	}
	b := &userBucket{user: user, lim: rate.NewLimiter(l.limit, l.burst), seen: now}
	l.users[user] = l.lru.PushFront(b)
	return b
}

// limitWrites answers 429 and returns true when the request is a write and
// the user is over the limit.
func (s *Server) limitWrites(w http.ResponseWriter, r *http.Request, user string) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return false
	}
	ok, wait := s.writes.Allow(user)
	if ok {
		return false
	}
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeAPIError(w, errorf(http.StatusTooManyRequests, CodeRateLimited, "",
		fmt.Sprintf("too many changes: at most %g per second with bursts of %d; retry in %d s",
			float64(s.writes.limit), s.writes.burst, secs)))
	return true
}

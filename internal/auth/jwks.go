package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/cenkalti/backoff/v5"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults and bounds of the JWKS settings of Config.
const (
	DefaultJWKSRefreshInterval = time.Hour
	DefaultJWKSUnknownKIDEvery = 15 * time.Second
	DefaultJWKSTimeout         = 10 * time.Second

	// JWKSUnknownKIDEvery must lie in this range: at least a second, so
	// that tokens with made-up kids cannot make us hammer the identity
	// provider; at most a minute, which is the longest a new key of the
	// provider may be refused.
	MinJWKSUnknownKIDEvery = time.Second
	MaxJWKSUnknownKIDEvery = time.Minute
)

const (
	maxJWKSBytes = 1 << 20 // a JWK Set larger than this is refused
	minRSABits   = 2048
)

// After a failed fetch, the JWK Set is fetched again after jwksRetryMin,
// doubling up to jwksRetryMax, until a fetch succeeds (newRetryBackoff).
// Variables for the tests; they are read when a Verifier is made.
var (
	jwksRetryMin = 2 * time.Second
	jwksRetryMax = 5 * time.Minute
)

// Clock is the time source of the JWKS refresh schedule. Config.Clock nil
// means the system clock; tests pass a manual one (authtest.Clock).
type Clock interface {
	Now() time.Time
	// Until returns a channel that receives once the clock reaches t (at
	// once when it already has), and a function that releases the timer
	// when it is no longer needed. An absolute deadline, so that a clock
	// moving between reading Now and setting the timer changes nothing.
	Until(t time.Time) (<-chan time.Time, func())
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Until(at time.Time) (<-chan time.Time, func()) {
	t := time.NewTimer(time.Until(at))
	return t.C, func() { t.Stop() }
}

// jwksKeys holds the public keys of an identity provider, fetched from its
// JWKS URL into a jwkset cache; keyfunc picks one by the token's kid.
//
// Every fetch is made by one goroutine (loop), which keeps this schedule:
//
//   - Every JWKSRefreshInterval after the last fetch (keys removed by the
//     provider are dropped, so revocation works); after a failed fetch,
//     again with backoff (jwksRetryMin doubling to jwksRetryMax, without
//     jitter: one request per wait is no load to spread) until one
//     succeeds, so a first fetch that failed at start is made up for.
//   - A token with an unknown kid asks for a fetch. The fetch starts once
//     JWKSUnknownKIDEvery has passed since the start of the last fetch made
//     for an unknown kid, whatever kid asked, and however many. So a stream of made-up kids
//     costs the provider at most one request per JWKSUnknownKIDEvery, and
//     it cannot starve a genuine new kid: any fetch that starts after the
//     provider published its key brings it, and one starts at most
//     JWKSUnknownKIDEvery after the new kid is first seen.
//   - The token that asked waits for that fetch when it may start now (or
//     for one already under way); otherwise it is refused at once, and the
//     fetch still happens when its time comes. Nothing a client sends
//     resets or extends the wait, unlike the shared token bucket of
//     jwkset's RefreshUnknownKID, which three forged tokens could drain
//     for minutes just before a key rotation.
type jwksKeys struct {
	url     string
	kf      keyfunc.Keyfunc
	mem     *jwkset.MemoryJWKSet // the cache, replaced whole by each fetch
	client  *http.Client
	timeout time.Duration
	refresh time.Duration
	every   time.Duration
	retry   *backoff.ExponentialBackOff // the waits after failed fetches: the constructor's, then loop's alone
	clock   Clock
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	kick    chan struct{} // wakes loop when a fetch is asked for; buffered 1
	done    chan struct{} // closed when loop ends

	mu      sync.Mutex
	last    time.Time     // start of the last fetch
	lastFor time.Time     // start of the last fetch made for an unknown kid
	asked   chan struct{} // closed when the next fetch ends; nil when no unknown kid asked for one
	running chan struct{} // closed when the fetch under way ends; nil when none is
}

func newJWKSKeys(parent context.Context, cfg Config) (*jwksKeys, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth: JWKS URL %q must be an absolute http(s) URL", cfg.JWKSURL)
	}
	every := orDefault(cfg.JWKSUnknownKIDEvery, DefaultJWKSUnknownKIDEvery)
	if every < MinJWKSUnknownKIDEvery || every > MaxJWKSUnknownKIDEvery {
		return nil, fmt.Errorf("auth: JWKS unknown-kid refresh interval %v must be between %v and %v",
			every, MinJWKSUnknownKIDEvery, MaxJWKSUnknownKIDEvery)
	}
	timeout := orDefault(cfg.JWKSTimeout, DefaultJWKSTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	clock := cfg.Clock
	if clock == nil {
		clock = systemClock{}
	}
	ctx, cancel := context.WithCancel(parent)
	k := &jwksKeys{
		url:     cfg.JWKSURL,
		mem:     jwkset.NewMemoryStorage(),
		client:  &http.Client{Timeout: timeout, Transport: limitBody{withHeader{http.DefaultTransport, cfg.JWKSHeader}, maxJWKSBytes}},
		timeout: timeout,
		refresh: orDefault(cfg.JWKSRefreshInterval, DefaultJWKSRefreshInterval),
		every:   every,
		retry:   newRetryBackoff(),
		clock:   clock,
		log:     log.With("jwks_url", cfg.JWKSURL),
		ctx:     ctx,
		cancel:  cancel,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	k.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: refreshingCache{k.mem, k}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	// The first fetch happens here, bounded by timeout; a failure is logged
	// and does not stop the start: loop retries it with backoff.
	k.last = clock.Now()
	var retryIn time.Duration
	if err := k.fetch(); err != nil {
		retryIn = k.retry.NextBackOff()
		k.log.Warn("JWKS fetch failed; tokens signed with its keys are refused until it succeeds",
			"err", err, "retry_in", retryIn)
	}
	go k.loop(retryIn)
	return k, nil
}

// newRetryBackoff is the schedule of fetches after failed ones:
// jwksRetryMin, doubling, at most jwksRetryMax, no jitter.
func newRetryBackoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: jwksRetryMin, Multiplier: 2, MaxInterval: jwksRetryMax, RandomizationFactor: 0,
	}
	b.Reset()
	return b
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (k *jwksKeys) count() int {
	keys, _ := k.mem.KeyReadAll(k.ctx)
	return len(keys)
}

// fetch reads the JWK Set once into the cache, replacing what it held.
func (k *jwksKeys) fetch() error {
	// A one-shot jwkset storage writing into a fresh store: one request,
	// bounded by timeout, no goroutine. The cache is replaced only by a set
	// that holds keys, so an empty or unusable answer keeps the known keys.
	fresh := jwkset.NewMemoryStorage()
	_, err := jwkset.NewStorageFromHTTP(k.url, jwkset.HTTPClientStorageOptions{
		Client: k.client, Ctx: k.ctx, HTTPTimeout: k.timeout, Storage: fresh,
	})
	if err != nil {
		return err
	}
	keys, err := fresh.KeyReadAll(k.ctx)
	if err != nil {
		return err
	}
	n := len(keys)
	if n == 0 {
		return errors.New("the JWK Set has no usable keys; keeping the keys already known")
	}
	if err := k.mem.KeyReplaceAll(k.ctx, keys); err != nil {
		return err
	}
	k.log.Debug("JWKS fetched", "keys", n)
	return nil
}

// loop makes every fetch after the first, on the schedule described at
// jwksKeys. retryIn is how long after the last fetch, which failed, the
// next one is due; 0 when the last fetch succeeded.
func (k *jwksKeys) loop(retryIn time.Duration) {
	defer close(k.done)
	for {
		k.mu.Lock()
		due := k.last.Add(k.refresh)
		if retryIn > 0 {
			due = k.last.Add(retryIn)
		}
		if k.asked != nil {
			due = minTime(due, k.lastFor.Add(k.every))
		}
		wait := due.Sub(k.clock.Now())
		if wait <= 0 {
			k.last = k.clock.Now()
			k.running = k.asked
			if k.running == nil {
				k.running = make(chan struct{})
			} else {
				k.lastFor = k.last
			}
			k.asked = nil
		}
		k.mu.Unlock()

		if wait > 0 {
			timer, stop := k.clock.Until(due)
			select {
			case <-k.ctx.Done():
				stop()
				return
			case <-k.kick:
			case <-timer:
			}
			stop()
			continue
		}

		err := k.fetch()
		k.mu.Lock()
		running := k.running
		k.running = nil
		k.mu.Unlock()
		close(running)
		if k.ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			retryIn = k.retry.NextBackOff()
			k.log.Warn("JWKS fetch failed; tokens signed with keys not yet known are refused until it succeeds",
				"err", err, "retry_in", retryIn)
		case retryIn > 0:
			retryIn = 0
			k.retry.Reset()
			k.log.Info("JWKS fetched", "keys", k.count())
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// waitClosed waits until ch is closed or ctx ends, and reports whether ch
// was closed.
func waitClosed(ctx context.Context, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// awaitFetch is called when a token names a kid missing from the cache. It
// asks loop for a fetch and returns once known reports the kid is there,
// or once a fetch that started after this call has ended, or at once when
// no fetch may start yet (the asked-for one runs when its time comes), or
// when ctx ends.
func (k *jwksKeys) awaitFetch(ctx context.Context, known func() bool) {
	k.mu.Lock()
	if running := k.running; running != nil {
		// A fetch is under way. It may have started before the provider
		// published this kid: wait for it, then ask for the next one.
		k.mu.Unlock()
		if !waitClosed(ctx, running) || known() {
			return
		}
		k.mu.Lock()
		if running := k.running; running != nil {
			// Another one has started since, so after this call: it will do.
			k.mu.Unlock()
			waitClosed(ctx, running)
			return
		}
	}
	if k.asked == nil {
		k.asked = make(chan struct{})
	}
	asked, due := k.asked, k.lastFor.Add(k.every)
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
	if due.After(k.clock.Now()) {
		return
	}
	select {
	case <-asked:
	case <-ctx.Done():
	}
}

// refreshingCache is the cache as keyfunc reads it: a kid it does not hold
// asks for a fetch (see awaitFetch) before the answer.
type refreshingCache struct {
	*jwkset.MemoryJWKSet
	k *jwksKeys
}

func (c refreshingCache) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	jwk, err := c.MemoryJWKSet.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwk, err
	}
	c.k.awaitFetch(ctx, func() bool {
		_, err := c.MemoryJWKSet.KeyRead(ctx, kid)
		return err == nil
	})
	return c.MemoryJWKSet.KeyRead(ctx, kid)
}

func (k *jwksKeys) close() {
	k.cancel()
	<-k.done
}

// keyFor returns the public key named by the token's kid, after checking
// that the token's algorithm is the one pinned to the key's type: RS256 for
// RSA keys, EdDSA for Ed25519 keys. HS256 never gets here (it only ever
// uses the shared secret), so a public key cannot serve as an HMAC secret.
func (k *jwksKeys) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("a token signed with a JWKS key must name it in its kid header")
	}
	ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
	defer cancel()
	key, err := k.kf.KeyfuncCtx(ctx)(t) // also refuses a token alg other than the key's "alg"
	if err != nil {
		return nil, fmt.Errorf("JWKS key %q: %w", kid, err)
	}
	alg := t.Method.Alg()
	switch pub := key.(type) {
	case *rsa.PublicKey:
		if alg != jwt.SigningMethodRS256.Alg() {
			return nil, fmt.Errorf("JWKS key %q is an RSA key: only RS256 is accepted with it, not %s", kid, alg)
		}
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("JWKS key %q: RSA keys shorter than %d bits are refused", kid, minRSABits)
		}
	case ed25519.PublicKey:
		if alg != jwt.SigningMethodEdDSA.Alg() {
			return nil, fmt.Errorf("JWKS key %q is an Ed25519 key: only EdDSA is accepted with it, not %s", kid, alg)
		}
	default:
		return nil, fmt.Errorf("JWKS key %q: %T keys are not accepted (only RSA with RS256 and Ed25519 with EdDSA)", kid, key)
	}
	return key, nil
}

// withHeader adds its header to every request sent through it.
type withHeader struct {
	next   http.RoundTripper
	header http.Header
}

func (w withHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(w.header) == 0 {
		return w.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	for k, v := range w.header {
		r.Header[k] = v
	}
	return w.next.RoundTrip(r)
}

// limitBody caps the size of the answers read through it.
type limitBody struct {
	next http.RoundTripper
	max  int64
}

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, l.max), resp.Body}
	return resp, nil
}

package auth

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evolution-todo/todo/internal/auth/authtest"
)

// forger sends tokens with made-up kids, as an attacker who knows the
// issuer and audience but has none of the provider's keys.
type forger struct {
	t      *testing.T
	v      *Verifier
	sent   atomic.Int64
	passed atomic.Int64
}

func (f *forger) send(n int) {
	for range n {
		f.sent.Add(1)
		tok := f.forge()
		if _, err := f.v.Verify(tok); err == nil {
			f.passed.Add(1)
		}
	}
}

// forge makes an RS256 token with a random kid and a random signature:
// the kid is unknown, so no signature is ever checked, and making it costs
// no RSA signing.
func (f *forger) forge() string {
	claims, err := json.Marshal(idpClaims(nil))
	if err != nil {
		f.t.Error(err)
	}
	header := fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":"forged-%s"}`, rand.Text())
	return b64([]byte(header)) + "." + b64(claims) + "." + b64([]byte(rand.Text()+rand.Text()))
}

// stream sends forged tokens from goroutines of its own, as fast as they
// go, until the returned stop is called.
func (f *forger) stream(goroutines int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				f.send(1)
				runtime.Gosched()
			}
		})
	}
	return sync.OnceFunc(func() { close(done); wg.Wait() })
}

// The identity provider rotates its key while an attacker sends tokens
// with random kids: a burst just before the rotation, then a steady
// stream (every simulated second, plus free-running goroutines). The
// genuine token signed with the new key must be accepted within one
// unknown-kid interval of the rotation (the promise is a minute at most),
// and the provider must see at most one fetch per interval whatever the
// attack. Time is simulated (authtest.Clock); the provider is a real HTTP
// server. Before the fix, three forged tokens drained jwkset's shared
// refresh limiter (5 min, burst 2) and the new key was refused for minutes.
func TestJWKSNewKeyAcceptedUnderForgedKIDStream(t *testing.T) {
	const (
		step   = time.Second
		attack = 4 * time.Minute // how long the steady stream goes on after the rotation
	)
	bound := min(DefaultJWKSUnknownKIDEvery+step, time.Minute) // one interval; a minute is the promise
	tests := []struct {
		name string
		// before runs just before the rotation, at a simulated time
		// quiet after the start.
		quiet  time.Duration
		before func(f *forger, clk *authtest.Clock)
	}{
		{"three forged kids just before the rotation", 30 * time.Second, func(f *forger, _ *authtest.Clock) { f.send(3) }},
		{"a flood of distinct kids just before the rotation", 40 * time.Second, func(f *forger, _ *authtest.Clock) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { f.send(50) })
			}
			wg.Wait()
		}},
		{"forged kids from the start, every second, through the rotation", 0, func(f *forger, clk *authtest.Clock) {
			for range 37 {
				clk.Advance(step)
				f.send(2)
			}
		}},
		{"right after the start", 0, func(f *forger, _ *authtest.Clock) { f.send(3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := testKeys()
			srv := newJWKSServer(t, rsaJWK("rsa-1", &k.rsa.PublicKey))
			clk := authtest.NewClock(time.Date(2027, 3, 28, 1, 0, 0, 0, time.UTC))
			start := clk.Now()
			v := jwksVerifier(t, Config{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience, Clock: clk})
			f := &forger{t: t, v: v}
			genuine := signKID(t, jwt.SigningMethodRS256, k.rsa2, "rsa-2", idpClaims(nil))

			clk.Advance(tt.quiet)
			tt.before(f, clk)
			hitsBefore := srv.hits.Load()
			srv.serve(rsaJWK("rsa-2", &k.rsa2.PublicKey)) // the provider rotates: rsa-2 in, rsa-1 out
			rotated := clk.Now()

			stop := f.stream(4)
			defer stop()
			var acceptedAfter time.Duration = -1
			for clk.Now().Sub(rotated) < attack {
				clk.Advance(step)
				f.send(5)
				if acceptedAfter >= 0 {
					continue
				}
				sub, err := v.Verify(genuine)
				switch {
				case err == nil && sub == "alice":
					acceptedAfter = clk.Now().Sub(rotated)
				case !errors.Is(err, ErrInvalidToken):
					t.Fatalf("Verify = %q, %v", sub, err)
				}
			}
			stop()
			elapsed := clk.Now().Sub(start)
			hits := srv.hits.Load()
			t.Logf("%d forged tokens; JWKS fetches: %d before the rotation, %d in all over %v; new key accepted %v after the rotation",
				f.sent.Load(), hitsBefore, hits, elapsed, acceptedAfter)
			if n := f.passed.Load(); n != 0 {
				t.Fatalf("%d forged tokens accepted", n)
			}
			if acceptedAfter < 0 || acceptedAfter > bound {
				t.Errorf("the genuine token with the new key was accepted %v after the rotation (-1: never), want at most %v", acceptedAfter, bound)
			}
			if _, err := v.Verify(genuine); err != nil {
				t.Errorf("the new key is refused again at the end of the attack: %v", err)
			}
			// The start fetch, then at most one per interval.
			if limit := 2 + int64(elapsed/DefaultJWKSUnknownKIDEvery); hits > limit {
				t.Errorf("%d JWKS fetches in %v of attack, want at most %d (one per %v)", hits, elapsed, limit, DefaultJWKSUnknownKIDEvery)
			}
			if f.sent.Load() < 10*hits {
				t.Errorf("only %d forged tokens for %d fetches: the attack is too thin to show the bound", f.sent.Load(), hits)
			}
		})
	}
}

// A fetch asked for by an unknown kid happens when its time comes even if
// no token asks again then: the key of a new kid seen once is in the cache
// one interval later.
func TestJWKSUnknownKIDFetchIsNotLost(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t, rsaJWK("rsa-1", &k.rsa.PublicKey))
	clk := authtest.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	v := jwksVerifier(t, Config{JWKSURL: srv.URL, Clock: clk})
	f := &forger{t: t, v: v}
	f.send(1) // the first unknown kid fetches at once
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (start, first unknown kid)", got)
	}
	srv.serve(rsaJWK("rsa-1", &k.rsa.PublicKey), rsaJWK("rsa-2", &k.rsa2.PublicKey))
	genuine := signKID(t, jwt.SigningMethodRS256, k.rsa2, "rsa-2", idpClaims(nil))
	if _, err := v.Verify(genuine); err == nil {
		t.Fatal("accepted before any fetch could bring the key: the interval is not kept")
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("a second unknown kid within the interval fetched (%d fetches)", got)
	}
	clk.Advance(DefaultJWKSUnknownKIDEvery)
	deadline := time.Now().Add(10 * time.Second) // generous: the fetch is one local request
	for v.jwks.count() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the asked-for fetch did not happen when its time came (%d fetches)", srv.hits.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := v.Verify(genuine); err != nil {
		t.Fatalf("new key after the interval: %v", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Errorf("JWKS fetched %d times, want 3", got)
	}
}

// An answer with no usable keys (an empty set, say, during a provider's
// rotation) does not wipe the keys already known: tokens signed with them
// are still accepted.
func TestJWKSEmptyAnswerKeepsKnownKeys(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t, rsaJWK("rsa-1", &k.rsa.PublicKey))
	clk := authtest.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	v := jwksVerifier(t, Config{JWKSURL: srv.URL, Clock: clk})
	genuine := signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(nil))
	if _, err := v.Verify(genuine); err != nil {
		t.Fatalf("before: %v", err)
	}
	srv.serve() // {"keys": []}
	f := &forger{t: t, v: v}
	f.send(1) // an unknown kid fetches at once, and gets nothing usable
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", got)
	}
	if n := v.jwks.count(); n != 1 {
		t.Errorf("%d keys cached after an empty answer, want the 1 known", n)
	}
	if _, err := v.Verify(genuine); err != nil {
		t.Errorf("a known key is refused after an empty answer: %v", err)
	}
}

// While the provider is down, the JWK Set is fetched again after 2s,
// doubling up to 5 minutes, and exactly then; once a fetch succeeds the
// next one is a refresh interval later, and a later failure starts the
// backoff over at 2s. Simulated time: each wait is checked on the timer the
// fetch loop sets.
func TestJWKSRetryBackoff(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t)
	srv.fail(http.StatusServiceUnavailable)
	start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := authtest.NewClock(start)
	v := jwksVerifier(t, Config{JWKSURL: srv.URL, Clock: clk})
	now := start
	hits := int64(1) // the fetch at start, which failed
	// next checks that the loop waits for d after the fetch at now, then
	// moves the clock there and waits for that fetch.
	next := func(d time.Duration) {
		t.Helper()
		want := now.Add(d)
		deadline := time.Now().Add(10 * time.Second)
		for got := clk.Timers(); len(got) != 1 || !got[0].Equal(want); got = clk.Timers() {
			if time.Now().After(deadline) {
				t.Fatalf("after the fetch at %v the loop waits until %v, want %v (%v later)", now.Sub(start), got, want.Sub(start), d)
			}
			time.Sleep(time.Millisecond)
		}
		if got := srv.hits.Load(); got != hits {
			t.Fatalf("%d fetches before %v, want %d", got, want.Sub(start), hits)
		}
		clk.Advance(d)
		now, hits = want, hits+1
		for srv.hits.Load() != hits {
			if time.Now().After(deadline) {
				t.Fatalf("no fetch at %v (%d fetches)", now.Sub(start), srv.hits.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	for _, d := range []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 300, 300} {
		next(d * time.Second)
	}
	srv.serve(rsaJWK("rsa-1", &k.rsa.PublicKey))
	next(300 * time.Second) // succeeds
	deadline := time.Now().Add(10 * time.Second)
	for v.jwks.count() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the keys did not arrive")
		}
		time.Sleep(time.Millisecond)
	}
	srv.fail(http.StatusServiceUnavailable)
	next(DefaultJWKSRefreshInterval) // the refresh, which fails
	next(2 * time.Second)            // the backoff starts over
	next(4 * time.Second)
}

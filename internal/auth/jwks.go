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
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of the JWKS settings of Config.
const (
	DefaultJWKSRefreshInterval = time.Hour
	DefaultJWKSUnknownKIDEvery = 5 * time.Minute
	DefaultJWKSUnknownKIDBurst = 2
	DefaultJWKSTimeout         = 10 * time.Second
)

const (
	maxJWKSBytes = 1 << 20 // a JWK Set larger than this is refused
	minRSABits   = 2048
)

// After a failed first fetch, the JWK Set is fetched again after
// jwksRetryMin, doubling up to jwksRetryMax, until it arrives. Variables for
// the tests; they are read when a Verifier is made.
var (
	jwksRetryMin = 2 * time.Second
	jwksRetryMax = 5 * time.Minute
)

// jwksKeys holds the public keys of an identity provider, fetched from its
// JWKS URL and cached by jwkset; keyfunc picks one by the token's kid.
//
//   - Periodic refresh every JWKSRefreshInterval (keys removed by the
//     provider are dropped, so revocation works).
//   - A token with an unknown kid triggers a refresh, rate-limited to one per
//     JWKSUnknownKIDEvery with a burst of JWKSUnknownKIDBurst: a flood of
//     made-up kids does not turn into a flood of requests to the provider,
//     and such tokens are refused at once when the limit is reached.
//   - When the first fetch fails, the Verifier works anyway (JWKS tokens are
//     refused) and a goroutine fetches again with backoff until keys arrive.
type jwksKeys struct {
	url      string
	kf       keyfunc.Keyfunc
	mem      *jwkset.MemoryJWKSet // the cache, shared by every fetch
	client   *http.Client
	timeout  time.Duration
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	retryMin time.Duration
	retryMax time.Duration
	done     chan struct{} // closed when the retry goroutine ends; nil when there is none
}

func newJWKSKeys(parent context.Context, cfg Config) (*jwksKeys, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth: JWKS URL %q must be an absolute http(s) URL", cfg.JWKSURL)
	}
	refresh := orDefault(cfg.JWKSRefreshInterval, DefaultJWKSRefreshInterval)
	every := orDefault(cfg.JWKSUnknownKIDEvery, DefaultJWKSUnknownKIDEvery)
	timeout := orDefault(cfg.JWKSTimeout, DefaultJWKSTimeout)
	burst := cfg.JWKSUnknownKIDBurst
	if burst <= 0 {
		burst = DefaultJWKSUnknownKIDBurst
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("jwks_url", cfg.JWKSURL)

	ctx, cancel := context.WithCancel(parent)
	k := &jwksKeys{
		url:      cfg.JWKSURL,
		mem:      jwkset.NewMemoryStorage(),
		client:   &http.Client{Timeout: timeout, Transport: limitBody{http.DefaultTransport, maxJWKSBytes}},
		timeout:  timeout,
		log:      log,
		ctx:      ctx,
		cancel:   cancel,
		retryMin: jwksRetryMin,
		retryMax: jwksRetryMax,
	}
	// The first fetch happens here, bounded by timeout; a failure is logged
	// and does not stop the start (NoErrorReturnFirstHTTPReq).
	remote, err := jwkset.NewStorageFromHTTP(cfg.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client:                    k.client,
		Ctx:                       ctx,
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler: func(_ context.Context, err error) {
			log.Warn("JWKS fetch failed; tokens signed with keys not yet known are refused", "err", err)
		},
		RefreshInterval: refresh,
		Storage:         k.mem,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{cfg.JWKSURL: remote},
		// The wait for the unknown-kid limiter and the refresh share this
		// bound; a wait longer than it fails at once.
		RateLimitWaitMax:  timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(every), burst),
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	k.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	if n := k.count(); n > 0 {
		log.Info("JWKS fetched", "keys", n)
	} else {
		k.done = make(chan struct{})
		go k.retry()
	}
	return k, nil
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

// retry fetches the JWK Set with backoff until it holds keys.
func (k *jwksKeys) retry() {
	defer close(k.done)
	wait := k.retryMin
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-timer.C:
		}
		if n := k.count(); n > 0 { // a refresh on an unknown kid got them
			k.log.Info("JWKS fetched", "keys", n)
			return
		}
		// A one-shot storage writing into the shared cache: one fetch, no goroutine.
		_, err := jwkset.NewStorageFromHTTP(k.url, jwkset.HTTPClientStorageOptions{
			Client: k.client, Ctx: k.ctx, HTTPTimeout: k.timeout, Storage: k.mem,
		})
		if err == nil {
			if n := k.count(); n > 0 {
				k.log.Info("JWKS fetched", "keys", n)
				return
			}
			err = errors.New("the JWK Set has no usable keys")
		}
		if k.ctx.Err() != nil {
			return
		}
		wait = min(2*wait, k.retryMax)
		k.log.Warn("JWKS fetch failed; tokens signed with its keys are refused until it succeeds", "err", err, "retry_in", wait)
		timer.Reset(wait)
	}
}

func (k *jwksKeys) close() {
	k.cancel()
	if k.done != nil {
		<-k.done
	}
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

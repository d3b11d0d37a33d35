package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evolution-todo/todo/internal/auth/authtest"
)

// Keys made once for the whole test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsa2, rsaOther *rsa.PrivateKey
	ed, edOther         ed25519.PrivateKey
	ec                  *ecdsa.PrivateKey
}) {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var err error
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	_, k.edOther, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	return k
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK is an RSA public key as an identity provider publishes it.
func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	k := rsaJWKNoAlg(kid, pub)
	k["alg"] = "RS256"
	return k
}

// rsaJWKNoAlg is an RSA public key without "alg", so that the algorithm is
// pinned by the key type alone.
func rsaJWKNoAlg(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

// edJWK is an Ed25519 public key, without "alg" (optional in a JWK): the
// algorithm is pinned by the key type alone.
func edJWK(kid string, pub ed25519.PublicKey) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "x": b64(pub)}
}

// jwksServer serves a JWK Set that the test can change, and counts the
// requests.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	status int
	body   []byte
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.status, s.body = http.StatusOK, b
	s.mu.Unlock()
}

func (s *jwksServer) fail(status int) {
	s.mu.Lock()
	s.status, s.body = status, []byte(`{"error":"down"}`)
	s.mu.Unlock()
}

func standardJWKS(t *testing.T) *jwksServer {
	k := testKeys()
	return newJWKSServer(t, rsaJWK("rsa-1", &k.rsa.PublicKey), edJWK("ed-1", k.ed.Public().(ed25519.PublicKey)),
		rsaJWKNoAlg("rsa-noalg", &k.rsa.PublicKey))
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func jwksVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	cfg.Logger = quietLog()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// signKID signs claims with method and key, naming kid in the header when
// not empty.
func signKID(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "todo-api"
)

func idpClaims(mod func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "iss": testIssuer, "aud": testAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func pemPublic(t *testing.T, pub any) (pemBytes, der []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der
}

func TestJWKSTokens(t *testing.T) {
	k := testKeys()
	srv := standardJWKS(t)
	v := jwksVerifier(t, Config{JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience})
	good := idpClaims(nil)
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims { return idpClaims(mod) }
	now := time.Now()
	rsaPEM, rsaDER := pemPublic(t, &k.rsa.PublicKey)
	edPub := k.ed.Public().(ed25519.PublicKey)
	none := signKID(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", good)

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"RS256", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", good), true},
		{"EdDSA", signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", good), true},
		{"RS256 without kid", signKID(t, jwt.SigningMethodRS256, k.rsa, "", good), false},
		{"EdDSA without kid", signKID(t, jwt.SigningMethodEdDSA, k.ed, "", good), false},
		{"unknown kid", signKID(t, jwt.SigningMethodRS256, k.rsa, "nobody", good), false},
		{"RS256 by another private key, known kid", signKID(t, jwt.SigningMethodRS256, k.rsaOther, "rsa-1", good), false},
		{"EdDSA by another private key, known kid", signKID(t, jwt.SigningMethodEdDSA, k.edOther, "ed-1", good), false},
		// The classic algorithm confusion: the public key used as an HMAC secret.
		{"HS256 with the RSA public key PEM as secret", signKID(t, jwt.SigningMethodHS256, rsaPEM, "rsa-1", good), false},
		{"HS256 with the RSA public key DER as secret", signKID(t, jwt.SigningMethodHS256, rsaDER, "rsa-1", good), false},
		{"HS256 with the RSA modulus as secret", signKID(t, jwt.SigningMethodHS256, k.rsa.N.Bytes(), "rsa-1", good), false},
		{"HS256 with the Ed25519 public key as secret", signKID(t, jwt.SigningMethodHS256, []byte(edPub), "ed-1", good), false},
		{"HS256 when no secret is configured", signKID(t, jwt.SigningMethodHS256, secret, "", good), false},
		{"alg none", none, false},
		// Algorithm pinned by key type.
		{"EdDSA naming the RSA kid", signKID(t, jwt.SigningMethodEdDSA, k.ed, "rsa-1", good), false},
		{"RS256, RSA key without alg", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-noalg", good), true},
		{"EdDSA naming an RSA kid without alg", signKID(t, jwt.SigningMethodEdDSA, k.ed, "rsa-noalg", good), false},
		{"HS256 with the RSA public key PEM as secret, RSA kid without alg", signKID(t, jwt.SigningMethodHS256, rsaPEM, "rsa-noalg", good), false},
		{"RS512 naming an RSA kid without alg", signKID(t, jwt.SigningMethodRS512, k.rsa, "rsa-noalg", good), false},
		{"RS256 naming the Ed25519 kid", signKID(t, jwt.SigningMethodRS256, k.rsa, "ed-1", good), false},
		{"RS512 with the RSA key", signKID(t, jwt.SigningMethodRS512, k.rsa, "rsa-1", good), false},
		{"PS256 with the RSA key", signKID(t, jwt.SigningMethodPS256, k.rsa, "rsa-1", good), false},
		{"ES256", signKID(t, jwt.SigningMethodES256, k.ec, "rsa-1", good), false},
		// Claims, checked as for HS256.
		{"expired", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), false},
		{"no exp", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", with(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"not yet valid", signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), false},
		{"issued in the future", signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })), false},
		{"wrong issuer", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })), false},
		{"no issuer", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", with(func(c jwt.MapClaims) { delete(c, "iss") })), false},
		{"wrong audience", signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", with(func(c jwt.MapClaims) { c["aud"] = "other-api" })), false},
		{"no sub", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", with(func(c jwt.MapClaims) { delete(c, "sub") })), false},
		{"tampered payload", tamper(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", good)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := v.Verify(tt.token)
			if tt.ok {
				if err != nil || sub != "alice" {
					t.Fatalf("Verify = %q, %v; want alice", sub, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify accepted a bad token (sub %q, err %v)", sub, err)
			}
			t.Log(err)
		})
	}
}

func TestJWKSUnknownKIDRefreshIsRateLimited(t *testing.T) {
	k := testKeys()
	srv := standardJWKS(t)
	v := jwksVerifier(t, Config{JWKSURL: srv.URL})
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times at start, want 1", got)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var accepted atomic.Int64
	for i := range 20 {
		tok := signKID(t, jwt.SigningMethodRS256, k.rsa, fmt.Sprintf("unknown-%d", i), idpClaims(nil))
		wg.Go(func() {
			if _, err := v.Verify(tok); err == nil {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 0 {
		t.Fatalf("%d tokens with unknown kids accepted", accepted.Load())
	}
	refreshes := srv.hits.Load() - 1
	t.Logf("20 unknown kids: %d JWKS refreshes", refreshes)
	if refreshes != 1 {
		t.Errorf("20 unknown kids made %d refreshes of the JWKS, want 1 (one per %v)", refreshes, DefaultJWKSUnknownKIDEvery)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing the tokens took %v: they should not wait for the rate limiter", d)
	}
	// Known keys keep working without asking the server.
	before := srv.hits.Load()
	if _, err := v.Verify(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(nil))); err != nil {
		t.Fatal(err)
	}
	if srv.hits.Load() != before {
		t.Error("a known kid made a JWKS request: keys are not cached")
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t, rsaJWK("rsa-1", &k.rsa.PublicKey))
	clk := authtest.NewClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	v := jwksVerifier(t, Config{JWKSURL: srv.URL, Clock: clk})
	oldTok := signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(nil))
	newTok := signKID(t, jwt.SigningMethodRS256, k.rsa2, "rsa-2", idpClaims(nil))
	if _, err := v.Verify(oldTok); err != nil {
		t.Fatalf("old key before the rotation: %v", err)
	}
	if _, err := v.Verify(newTok); err == nil {
		t.Fatal("a token with a kid the provider does not publish yet was accepted")
	}
	// The provider rotates: rsa-2 in, rsa-1 out. The unknown kid above
	// fetched; the next fetch for one may start an interval later.
	srv.serve(rsaJWK("rsa-2", &k.rsa2.PublicKey))
	clk.Advance(DefaultJWKSUnknownKIDEvery)
	if sub, err := v.Verify(newTok); err != nil || sub != "alice" {
		t.Fatalf("new key after the rotation: %q, %v", sub, err)
	}
	if _, err := v.Verify(oldTok); err == nil {
		t.Error("a token with the removed key is still accepted after the refresh")
	}
}

func TestJWKSMixedMode(t *testing.T) {
	k := testKeys()
	srv := standardJWKS(t)
	cfg := Config{Secret: secret, JWKSURL: srv.URL, Issuer: testIssuer, Audience: testAudience}
	v := jwksVerifier(t, cfg)
	minted, err := Mint(cfg, "bob", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM, _ := pemPublic(t, &k.rsa.PublicKey)
	tests := []struct {
		name, token, sub string
	}{
		{"HS256 minted", minted, "bob"},
		{"HS256 with a kid", signKID(t, jwt.SigningMethodHS256, secret, "some-kid", idpClaims(nil)), "alice"},
		{"RS256", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(nil)), "alice"},
		{"EdDSA", signKID(t, jwt.SigningMethodEdDSA, k.ed, "ed-1", idpClaims(nil)), "alice"},
		{"HS256 with the RSA public key as secret", signKID(t, jwt.SigningMethodHS256, rsaPEM, "rsa-1", idpClaims(nil)), ""},
		{"HS256 with another secret", signKID(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), "", idpClaims(nil)), ""},
		{"RS256 wrong audience", signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(func(c jwt.MapClaims) { c["aud"] = "x" })), ""},
		{"HS256 wrong issuer", signKID(t, jwt.SigningMethodHS256, secret, "", idpClaims(func(c jwt.MapClaims) { c["iss"] = "x" })), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := v.Verify(tt.token)
			if tt.sub != "" && (err != nil || sub != tt.sub) {
				t.Fatalf("Verify = %q, %v; want %q", sub, err, tt.sub)
			}
			if tt.sub == "" && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify accepted a bad token (sub %q, err %v)", sub, err)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

func TestJWKSFirstFetchFailsThenRecovers(t *testing.T) {
	defer func(lo, hi time.Duration) { jwksRetryMin, jwksRetryMax = lo, hi }(jwksRetryMin, jwksRetryMax)
	jwksRetryMin, jwksRetryMax = 20*time.Millisecond, 100*time.Millisecond
	k := testKeys()
	srv := newJWKSServer(t)
	srv.fail(http.StatusServiceUnavailable)
	v := jwksVerifier(t, Config{JWKSURL: srv.URL})
	tok := signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(nil))
	if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token was accepted before any key arrived: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if srv.hits.Load() < 3 {
		t.Errorf("JWKS asked %d times while down, want retries", srv.hits.Load())
	}
	srv.serve(rsaJWK("rsa-1", &k.rsa.PublicKey))
	deadline := time.Now().Add(5 * time.Second)
	for v.jwks.count() == 0 { // the retry loop, not a token, brings the keys
		if time.Now().After(deadline) {
			t.Fatal("keys never arrived after the JWKS came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sub, err := v.Verify(tok); err != nil || sub != "alice" {
		t.Fatalf("after recovery: %q, %v", sub, err)
	}
	hits := srv.hits.Load()
	time.Sleep(250 * time.Millisecond)
	if srv.hits.Load() != hits {
		t.Error("the retry loop goes on after the keys arrived")
	}
}

func TestJWKSFirstFetchIsBounded(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first
	start := time.Now()
	v := jwksVerifier(t, Config{JWKSURL: hang.URL, JWKSTimeout: 200 * time.Millisecond})
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("NewVerifier took %v with an unresponsive JWKS", d)
	}
	tok := signKID(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", idpClaims(nil))
	start = time.Now()
	if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Verify = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Verify took %v with an unresponsive JWKS", d)
	}
}

func TestJWKSOversizedSetRefused(t *testing.T) {
	k := testKeys()
	big := rsaJWK("rsa-1", &k.rsa.PublicKey)
	big["x-padding"] = strings.Repeat("a", maxJWKSBytes)
	srv := newJWKSServer(t, big)
	v := jwksVerifier(t, Config{JWKSURL: srv.URL})
	if _, err := v.Verify(signKID(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", idpClaims(nil))); err == nil {
		t.Error("a key from a JWK Set over the size limit was used")
	}
}

func TestVerifierConfig(t *testing.T) {
	_, err := NewVerifier(Config{})
	if err == nil || !strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "JWKS") {
		t.Errorf("no secret, no JWKS: err = %v, want one naming both", err)
	}
	for _, u := range []string{"ftp://idp.example/jwks", "/jwks.json", "https://", "::"} {
		if v, err := NewVerifier(Config{JWKSURL: u}); err == nil {
			v.Close()
			t.Errorf("JWKS URL %q accepted", u)
		}
	}
	for _, every := range []time.Duration{MinJWKSUnknownKIDEvery - 1, MaxJWKSUnknownKIDEvery + 1, 5 * time.Minute} {
		if v, err := NewVerifier(Config{JWKSURL: "https://idp.example/jwks", JWKSUnknownKIDEvery: every}); err == nil {
			v.Close()
			t.Errorf("JWKS unknown-kid interval %v accepted", every)
		}
	}
	if _, err := NewVerifier(Config{Secret: []byte("short"), JWKSURL: "https://idp.example/jwks"}); err == nil {
		t.Error("a short secret was accepted next to a JWKS URL")
	}
}

// The JWKS-only Verifier refuses HS256 tokens even signed with what would
// be a valid secret, and Mint still needs the secret.
func TestJWKSOnlyRefusesHS256(t *testing.T) {
	srv := standardJWKS(t)
	v := jwksVerifier(t, Config{JWKSURL: srv.URL})
	tok, err := Mint(Config{Secret: secret}, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("HS256 accepted without a secret configured: %v", err)
	}
	if _, err := Mint(Config{JWKSURL: srv.URL}, "alice", time.Hour, time.Now()); err == nil {
		t.Error("Mint without a secret worked")
	}
}

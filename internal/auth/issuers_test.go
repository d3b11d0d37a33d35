package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/auth/authtest"
)

const (
	webIssuer = "todo-web-app"
	idpSecret = "idp-secret-idp-secret-idp-secret-0123"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSigner(t *testing.T, keys ...ed25519.PrivateKey) *auth.Signer {
	t.Helper()
	s, err := auth.NewSigner(keys, webIssuer, "todo-api")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwksServer serves the JWK Set of whichever signer it holds, and checks
// the header every fetch must carry.
type jwksServer struct {
	signer  atomic.Pointer[auth.Signer]
	fetches atomic.Int64
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T, s *auth.Signer) *jwksServer {
	j := &jwksServer{}
	j.signer.Store(s)
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("dapr-api-token") != "sidecar-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		j.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(j.signer.Load().JWKS())
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// issuers is todo-api's verifier: an identity provider's HS256 tokens and
// web-app's EdDSA tokens from its JWK Set.
func issuers(t *testing.T, jwksURL string, clk auth.Clock) *auth.Issuers {
	t.Helper()
	idp, err := auth.NewVerifier(auth.Config{Secret: []byte(idpSecret), Issuer: "https://idp.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	web, err := auth.NewVerifier(auth.Config{JWKSURL: jwksURL, Issuer: webIssuer, Audience: "todo-api",
		Algorithms: []string{"EdDSA"}, MaxTTL: 15 * time.Minute, Clock: clk,
		JWKSHeader: http.Header{"Dapr-Api-Token": {"sidecar-token"}}})
	if err != nil {
		t.Fatal(err)
	}
	is, err := auth.NewIssuers(idp, web)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	return is
}

func mint(t *testing.T, s *auth.Signer, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := s.Mint(user, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEachIssuerWithItsOwnKeys(t *testing.T) {
	webKey := newKey(t)
	signer := newSigner(t, webKey)
	j := newJWKSServer(t, signer)
	is := issuers(t, j.srv.URL, nil)

	if sub, err := is.Verify(mint(t, signer, "alice", 5*time.Minute)); err != nil || sub != "alice" {
		t.Fatalf("web-app's token: %q, %v", sub, err)
	}
	idpTok, _ := auth.Mint(auth.Config{Secret: []byte(idpSecret), Issuer: "https://idp.example.com"}, "bob", time.Hour, time.Now())
	if sub, err := is.Verify(idpTok); err != nil || sub != "bob" {
		t.Fatalf("the provider's token: %q, %v", sub, err)
	}

	signWith := func(method jwt.SigningMethod, key any, kid string, claims jwt.RegisteredClaims) string {
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
	now := time.Now()
	claims := func(iss string, ttl time.Duration) jwt.RegisteredClaims {
		return jwt.RegisteredClaims{Subject: "mallory", Issuer: iss, Audience: jwt.ClaimStrings{"todo-api"},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}
	}
	for _, tt := range []struct{ name, token string }{
		{"web-app's issuer, a key it never published", signWith(jwt.SigningMethodEdDSA, newKey(t), auth.Thumbprint(newKey(t).Public().(ed25519.PublicKey)), claims(webIssuer, time.Minute))},
		{"web-app's issuer, a foreign key under web-app's kid", signWith(jwt.SigningMethodEdDSA, newKey(t), signer.KeyID(), claims(webIssuer, time.Minute))},
		{"web-app's issuer, HS256 with the provider's secret", signWith(jwt.SigningMethodHS256, []byte(idpSecret), "", claims(webIssuer, time.Minute))},
		{"the provider's issuer, web-app's key", signWith(jwt.SigningMethodEdDSA, webKey, signer.KeyID(), claims("https://idp.example.com", time.Minute))},
		{"no issuer, web-app's key", signWith(jwt.SigningMethodEdDSA, webKey, signer.KeyID(), claims("", time.Minute))},
		{"web-app's key, a day long", signWith(jwt.SigningMethodEdDSA, webKey, signer.KeyID(), claims(webIssuer, 24*time.Hour))},
		{"web-app's key, another audience", signWith(jwt.SigningMethodEdDSA, webKey, signer.KeyID(), jwt.RegisteredClaims{
			Subject: "mallory", Issuer: webIssuer, Audience: jwt.ClaimStrings{"other"}, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))})},
		{"web-app's key, no iat", signWith(jwt.SigningMethodEdDSA, webKey, signer.KeyID(), jwt.RegisteredClaims{
			Subject: "mallory", Issuer: webIssuer, Audience: jwt.ClaimStrings{"todo-api"}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))})},
		{"garbage", "a.b.c"},
	} {
		if sub, err := is.Verify(tt.token); err == nil || !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: accepted as %q (%v)", tt.name, sub, err)
		}
	}
}

// The rotation of web-app's key, as docs/deploy.md tells it, refuses no
// token at any step: the new key is published second, then signs, then
// the old one goes once its tokens have expired.
func TestSignerKeyRotationWithoutDowntime(t *testing.T) {
	old, next := newKey(t), newKey(t)
	clk := authtest.NewClock(time.Now())
	j := newJWKSServer(t, newSigner(t, old))
	is := issuers(t, j.srv.URL, clk)
	verify := func(step, tok string, want bool) {
		t.Helper()
		_, err := is.Verify(tok)
		if (err == nil) != want {
			t.Errorf("%s: verify = %v, want accepted %v", step, err, want)
		}
	}
	oldTok := mint(t, newSigner(t, old), "alice", 5*time.Minute)
	verify("before", oldTok, true)

	// 1. Publish the new key beside the old one; the old one still signs.
	j.signer.Store(newSigner(t, old, next))
	verify("new key published", mint(t, newSigner(t, old, next), "alice", 5*time.Minute), true)
	// 2. The new key signs; the verifier has not refreshed yet, and fetches
	// the set for the unknown kid at once.
	rotated := newSigner(t, next, old)
	j.signer.Store(rotated)
	verify("new key signs", mint(t, rotated, "alice", 5*time.Minute), true)
	verify("a token of the old key, after the switch", oldTok, true)
	// 3. The old key goes: after the next refresh its tokens are refused.
	j.signer.Store(newSigner(t, next))
	fetched := j.fetches.Load()
	clk.Advance(auth.DefaultJWKSRefreshInterval)
	deadline := time.Now().Add(10 * time.Second)
	for j.fetches.Load() == fetched && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the fetched set replaces the cache
	verify("a token of the removed key", oldTok, false)
	verify("a token of the new key", mint(t, newSigner(t, next), "alice", 5*time.Minute), true)
}

func TestParseSigningKeys(t *testing.T) {
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	std, url := base64.StdEncoding.EncodeToString(seed), base64.RawURLEncoding.EncodeToString(seed)
	keys, err := auth.ParseSigningKeys(std + " , " + url)
	if err != nil || len(keys) != 2 || !keys[0].Equal(keys[1]) || !keys[0].Equal(ed25519.NewKeyFromSeed(seed)) {
		t.Fatalf("keys %v, err %v", len(keys), err)
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(seed[:31]), std + ",", "!!!!"} {
		if _, err := auth.ParseSigningKeys(bad); err == nil || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := auth.NewSigner(append(keys[:1], keys[0]), webIssuer, "todo-api"); err == nil {
		t.Error("a key listed twice was taken")
	}
}

package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/auth/authtest"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// Tokens from an OIDC provider's JWKS, through the HTTP layer: the good
// ones get in, every bad one is a JSON 401 with WWW-Authenticate.
func TestJWKSTokensOverHTTP(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "x": b64(edPub)},
	}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(idp.Close)

	const iss, aud = "https://idp.example.com/", "todo-api"
	v, err := auth.NewVerifier(auth.Config{JWKSURL: idp.URL, Issuer: iss, Audience: aud,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	st := &memStore{tasks: map[int64]task.Task{}}
	srv := httptest.NewServer(api.New(st, v, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), api.Config{}).PublicHandler())
	t.Cleanup(srv.Close)
	c := &client{t: t, url: srv.URL}

	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{"sub": "alice", "iss": iss, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(m)
		}
		return m
	}
	sign := func(method jwt.SigningMethod, key any, kid string, m jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, m)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	for name, tok := range map[string]string{
		"RS256": sign(jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(nil)),
		"EdDSA": sign(jwt.SigningMethodEdDSA, edKey, "ed-1", claims(nil)),
	} {
		for _, rt := range [][2]string{{"GET", "/api/tasks"}, {"POST", "/api/tasks"}} {
			body := ""
			if rt[0] == "POST" {
				body = `{"title":"x"}`
			}
			if r := c.do(rt[0], rt[1], tok, body); r.Status >= 300 {
				t.Errorf("%s token, %s %s: %d %s", name, rt[0], rt[1], r.Status, r.Body)
			}
		}
	}

	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	bad := map[string]string{
		"HS256 (no secret configured)":      sign(jwt.SigningMethodHS256, jwtCfg.Secret, "", claims(nil)),
		"HS256 with the RSA public key":     sign(jwt.SigningMethodHS256, rsaPEM, "rsa-1", claims(nil)),
		"HS256 with the Ed25519 public key": sign(jwt.SigningMethodHS256, []byte(edPub), "ed-1", claims(nil)),
		"alg none":                          none,
		"no kid":                            sign(jwt.SigningMethodRS256, rsaKey, "", claims(nil)),
		"unknown kid":                       sign(jwt.SigningMethodRS256, rsaKey, "rsa-9", claims(nil)),
		"other private key, known kid":      sign(jwt.SigningMethodRS256, otherRSA, "rsa-1", claims(nil)),
		"EdDSA naming the RSA key":          sign(jwt.SigningMethodEdDSA, edKey, "rsa-1", claims(nil)),
		"expired":                           sign(jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(m jwt.MapClaims) { m["exp"] = now.Add(-time.Hour).Unix() })),
		"no exp":                            sign(jwt.SigningMethodEdDSA, edKey, "ed-1", claims(func(m jwt.MapClaims) { delete(m, "exp") })),
		"not yet valid":                     sign(jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(m jwt.MapClaims) { m["nbf"] = now.Add(time.Hour).Unix() })),
		"wrong issuer":                      sign(jwt.SigningMethodEdDSA, edKey, "ed-1", claims(func(m jwt.MapClaims) { m["iss"] = "https://evil.example/" })),
		"wrong audience":                    sign(jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(m jwt.MapClaims) { m["aud"] = "another-api" })),
		"missing sub":                       sign(jwt.SigningMethodEdDSA, edKey, "ed-1", claims(func(m jwt.MapClaims) { delete(m, "sub") })),
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			for _, rt := range [][2]string{{"GET", "/api/tasks"}, {"POST", "/api/tasks"}, {"DELETE", "/api/tasks/1"}} {
				body := ""
				if rt[0] == "POST" {
					body = `{"title":"x"}`
				}
				r := c.do(rt[0], rt[1], tok, body)
				if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
					t.Errorf("%s %s: %d %s", rt[0], rt[1], r.Status, r.Body)
				}
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: no WWW-Authenticate header", rt[0], rt[1])
				}
			}
		})
	}
}

// The identity provider rotates its signing key while an attacker sends
// requests with forged tokens naming random kids: three just before the
// rotation, then a steady stream. Through todo-api's HTTP handler, a
// request with a genuine token signed with the new key must get in within
// one unknown-kid interval (15 s by default; a minute is the promise), and
// the provider must see at most one JWKS fetch per interval. The JWKS
// refresh runs on a manual clock (authtest.Clock), so the test is exact and
// fast; the provider is a real HTTP server.
func TestJWKSKeyRotationUnderForgedKIDsOverHTTP(t *testing.T) {
	oldKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := func(kid string, k *rsa.PrivateKey) map[string]any {
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	}
	var (
		mu    sync.Mutex
		jwks  []byte
		fetch atomic.Int64
	)
	publish := func(keys ...map[string]any) {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		mu.Lock()
		jwks = b
		mu.Unlock()
	}
	publish(jwk("key-2026", oldKey))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetch.Add(1)
		mu.Lock()
		b := jwks
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(idp.Close)

	const iss, aud = "https://idp.example.com/", "todo-api"
	clk := authtest.NewClock(time.Date(2027, 3, 28, 0, 59, 0, 0, time.UTC))
	start := clk.Now()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := auth.NewVerifier(auth.Config{JWKSURL: idp.URL, Issuer: iss, Audience: aud, Logger: quiet, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	srv := httptest.NewServer(api.New(&memStore{tasks: map[int64]task.Task{}}, v, nil, quiet, api.Config{}).PublicHandler())
	t.Cleanup(srv.Close)

	now := time.Now()
	claims, _ := json.Marshal(jwt.MapClaims{"sub": "mallory", "iss": iss, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	forged := func() string { // a random kid and signature: nothing to sign with
		return b64(fmt.Appendf(nil, `{"alg":"RS256","typ":"JWT","kid":"%s"}`, rand.Text())) + "." + b64(claims) + "." + b64([]byte(rand.Text()))
	}
	genuineTok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "alice", "iss": iss, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	genuineTok.Header["kid"] = "key-2027"
	genuine, err := genuineTok.SignedString(newKey)
	if err != nil {
		t.Fatal(err)
	}
	get := func(tok string) (int, error) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/tasks", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	var sent, wrong atomic.Int64 // forged requests, and those not answered 401
	attack := func(n int) error {
		for range n {
			sent.Add(1)
			status, err := get(forged())
			if err != nil {
				return err
			}
			if status != http.StatusUnauthorized {
				wrong.Add(1)
			}
		}
		return nil
	}

	clk.Advance(20 * time.Second)
	if err := attack(3); err != nil { // just before the rotation
		t.Fatal(err)
	}
	publish(jwk("key-2027", newKey)) // the provider rotates
	rotated := clk.Now()

	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := attack(1); err != nil {
					errs <- err
					return
				}
				runtime.Gosched()
			}
		})
	}
	stop := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stop()

	const step = time.Second
	bound := min(auth.DefaultJWKSUnknownKIDEvery+step, time.Minute) // one interval; a minute is the promise
	acceptedAfter := time.Duration(-1)
	for clk.Now().Sub(rotated) < 2*time.Minute {
		clk.Advance(step)
		if err := attack(3); err != nil {
			t.Fatal(err)
		}
		if acceptedAfter >= 0 {
			continue
		}
		switch status, err := get(genuine); {
		case err != nil:
			t.Fatal(err)
		case status == http.StatusOK:
			acceptedAfter = clk.Now().Sub(rotated)
		case status != http.StatusUnauthorized:
			t.Fatalf("genuine token: status %d", status)
		}
	}
	stop()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	elapsed := clk.Now().Sub(start)
	t.Logf("%d forged requests; %d JWKS fetches over %v; the new key got in %v after the rotation", sent.Load(), fetch.Load(), elapsed, acceptedAfter)
	if n := wrong.Load(); n != 0 {
		t.Fatalf("%d forged requests were not answered 401", n)
	}
	if acceptedAfter < 0 || acceptedAfter > bound {
		t.Errorf("a genuine token with the new key got in %v after the rotation (-1: never), want at most %v", acceptedAfter, bound)
	}
	if limit := 2 + int64(elapsed/auth.DefaultJWKSUnknownKIDEvery); fetch.Load() > limit {
		t.Errorf("%d JWKS fetches in %v, want at most %d (one per %v)", fetch.Load(), elapsed, limit, auth.DefaultJWKSUnknownKIDEvery)
	}
	if sent.Load() < 10*fetch.Load() {
		t.Errorf("only %d forged requests for %d fetches: too thin an attack to show the bound", sent.Load(), fetch.Load())
	}
}

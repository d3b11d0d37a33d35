package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/evolution-todo/todo/internal/api"
	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/task"
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
	srv := httptest.NewServer(api.New(st, nil, v, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), api.Config{}).Handler())
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

package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Now()
	v, err := NewVerifier(Config{Secret: secret, Issuer: "todo-issuer", Audience: "todo-api"})
	if err != nil {
		t.Fatal(err)
	}
	good := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "iss": "todo-issuer", "aud": "todo-api"}
	with := func(k string, val any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", sign(t, jwt.SigningMethodHS256, secret, good), true},
		{"empty", "", false},
		{"garbage", "not.a.jwt", false},
		{"alg none", noneToken, false},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), good), false},
		{"HS512 not pinned alg", sign(t, jwt.SigningMethodHS512, secret, good), false},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, good), false},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())), false},
		{"no exp", sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), false},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())), false},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, with("iat", now.Add(time.Hour).Unix())), false},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, secret, with("iss", "evil")), false},
		{"no issuer", sign(t, jwt.SigningMethodHS256, secret, with("iss", nil)), false},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, secret, with("aud", "other-api")), false},
		{"no sub", sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)), false},
		{"blank sub", sign(t, jwt.SigningMethodHS256, secret, with("sub", "  ")), false},
		{"sub with NUL", sign(t, jwt.SigningMethodHS256, secret, with("sub", "ali\x00ce")), false},
		{"sub with a control character", sign(t, jwt.SigningMethodHS256, secret, with("sub", "ali\nce")), false},
		{"tampered payload", tamper(sign(t, jwt.SigningMethodHS256, secret, good)), false},
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
		})
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	// {"sub":"mallory","exp":9999999999}
	parts[1] = "eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo5OTk5OTk5OTk5fQ"
	return strings.Join(parts, ".")
}

func TestMintRoundTrip(t *testing.T) {
	cfg := Config{Secret: secret, Issuer: "i", Audience: "a"}
	tok, err := Mint(cfg, "bob", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(cfg)
	if sub, err := v.Verify(tok); err != nil || sub != "bob" {
		t.Fatalf("Verify(Mint) = %q, %v", sub, err)
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := NewVerifier(Config{Secret: []byte("short")}); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}

package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signer mints EdDSA (Ed25519) tokens with the first of its keys, each
// naming its key by kid, and publishes the public keys of all of them as a
// JWK Set for the verifiers. Rotation without downtime: publish the new key
// second, let the verifiers fetch it, make it first, and remove the old one
// once the tokens it signed have expired. It is safe for concurrent use.
type Signer struct {
	keys     []signingKey
	issuer   string
	audience string
	jwks     []byte
}

type signingKey struct {
	kid  string
	priv ed25519.PrivateKey
}

// ParseSigningKeys reads a comma-separated list of Ed25519 private keys,
// each the base64 (standard or URL alphabet, padded or not) of its 32-byte
// seed, as `openssl rand -base64 32` prints one.
func ParseSigningKeys(list string) ([]ed25519.PrivateKey, error) {
	var keys []ed25519.PrivateKey
	for i, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		seed, err := decodeBase64(part)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("key %d: must be the base64 of 32 random bytes (try: openssl rand -base64 32)", i+1)
		}
		keys = append(keys, ed25519.NewKeyFromSeed(seed))
	}
	return keys, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// NewSigner returns a Signer of tokens with iss issuer and aud audience,
// signed with keys[0]; every key is published.
func NewSigner(keys []ed25519.PrivateKey, issuer, audience string) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: a signer needs a key")
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("auth: a signer's tokens must name their issuer and audience")
	}
	s := &Signer{issuer: issuer, audience: audience}
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	seen := map[string]bool{}
	for _, k := range keys {
		pub := k.Public().(ed25519.PublicKey)
		kid := Thumbprint(pub)
		if seen[kid] {
			return nil, fmt.Errorf("auth: key %s is listed twice", kid)
		}
		seen[kid] = true
		s.keys = append(s.keys, signingKey{kid: kid, priv: k})
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
			Kid: kid, Alg: jwt.SigningMethodEdDSA.Alg(), Use: "sig"})
	}
	var err error
	s.jwks, err = json.Marshal(set)
	return s, err
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key: the
// kid of its tokens.
func Thumbprint(pub ed25519.PublicKey) string {
	// The required members in lexical order, no whitespace (RFC 8037 §2).
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Mint signs a token for userID valid for ttl from now.
func (s *Signer) Mint(userID string, ttl time.Duration, now time.Time) (string, error) {
	if userID == "" {
		return "", errors.New("auth: user id is required")
	}
	claims := jwt.RegisteredClaims{
		Subject:   userID,
		Issuer:    s.issuer,
		Audience:  jwt.ClaimStrings{s.audience},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = s.keys[0].kid
	tok, err := t.SignedString(s.keys[0].priv)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return tok, nil
}

// JWKS is the JWK Set of every key's public half, as JSON.
func (s *Signer) JWKS() []byte { return s.jwks }

// KeyID is the kid of the key that signs.
func (s *Signer) KeyID() string { return s.keys[0].kid }

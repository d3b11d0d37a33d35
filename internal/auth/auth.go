// Package auth verifies and mints the bearer tokens (JWT) of the todo API.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest HS256 secret accepted (256 bits).
const MinSecretLen = 32

// Config says which tokens are valid.
type Config struct {
	Secret   []byte        // HS256 key, at least MinSecretLen bytes
	Issuer   string        // required "iss" when not empty
	Audience string        // required in "aud" when not empty
	Leeway   time.Duration // clock skew allowed on exp and nbf
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// NewVerifier returns a Verifier, or an error when the configuration is unsafe.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: JWT secret must be at least %d bytes, got %d", MinSecretLen, len(cfg.Secret))
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), // alg pinned: no "none", no RS/HS confusion
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Verifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// Verify checks a compact JWT and returns its subject, the user id.
func (v *Verifier) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return v.cfg.Secret, nil })
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	sub := strings.TrimSpace(claims.Subject)
	if sub == "" || len(sub) > 255 || sub != claims.Subject {
		return "", fmt.Errorf("%w: missing or malformed sub", ErrInvalidToken)
	}
	return sub, nil
}

// Mint signs a token for userID valid for ttl, with the configured issuer
// and audience. It exists for local runs and tests; production tokens come
// from an identity provider sharing the secret.
func Mint(cfg Config, userID string, ttl time.Duration, now time.Time) (string, error) {
	if userID == "" {
		return "", errors.New("auth: user id is required")
	}
	if len(cfg.Secret) < MinSecretLen {
		return "", fmt.Errorf("auth: JWT secret must be at least %d bytes", MinSecretLen)
	}
	claims := jwt.RegisteredClaims{
		Subject:   userID,
		Issuer:    cfg.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if cfg.Audience != "" {
		claims.Audience = jwt.ClaimStrings{cfg.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(cfg.Secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return s, nil
}

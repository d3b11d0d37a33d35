// Package auth verifies and mints the bearer tokens (JWT) of the todo API.
//
// Two kinds of tokens are accepted, each enabled by its own setting:
//
//   - HS256 tokens signed with a shared secret (Config.Secret);
//   - RS256 and EdDSA (Ed25519) tokens signed by an OIDC provider whose
//     public keys are published as a JWK Set (Config.JWKSURL), see jwks.go.
//
// The claims are checked the same way for both: exp required, nbf and iat
// honoured with Config.Leeway, iss and aud when configured, sub required.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest HS256 secret accepted (256 bits).
const MinSecretLen = 32

// Config says which tokens are valid. At least one of Secret and JWKSURL
// must be set.
type Config struct {
	Secret   []byte        // HS256 key, at least MinSecretLen bytes; empty: HS256 tokens are refused
	JWKSURL  string        // JWK Set of the identity provider (RS256, EdDSA); empty: no JWKS
	Issuer   string        // required "iss" when not empty
	Audience string        // required in "aud" when not empty
	Leeway   time.Duration // clock skew allowed on exp and nbf

	// Algorithms, when not empty, narrows the accepted algorithms to these
	// (of HS256, RS256 and EdDSA), e.g. EdDSA alone for web-app's tokens.
	Algorithms []string
	// MaxTTL, when positive, refuses tokens meant to live longer: iat is
	// then required and exp may be at most MaxTTL after it. A stolen
	// signing key still cannot mint a long-lived token that outlives its
	// removal from the JWK Set by long.
	MaxTTL time.Duration

	// JWKS tuning; the zero values mean the defaults of jwks.go.
	JWKSRefreshInterval time.Duration // periodic refresh, default 1h
	JWKSUnknownKIDEvery time.Duration // an unknown kid fetches at most once per this, 1s..1m, default 15s
	JWKSTimeout         time.Duration // bound of one JWKS fetch, default 10s
	JWKSHeader          http.Header   // sent with every JWKS fetch (the sidecar's dapr-api-token, when fetched through it)
	Logger              *slog.Logger  // JWKS fetch problems; nil: slog.Default()
	Clock               Clock         // time of the JWKS refresh schedule; nil: the system clock
}

// Verifier checks tokens. It is safe for concurrent use. Close it to stop
// the background refresh of the JWK Set.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	jwks   *jwksKeys // nil without JWKSURL
}

// ErrInvalidToken wraps every reason a token is refused.
var ErrInvalidToken = errors.New("invalid token")

// NewVerifier returns a Verifier, or an error when the configuration is unsafe.
// It is NewVerifierContext with a background context; call Close when done.
func NewVerifier(cfg Config) (*Verifier, error) {
	return NewVerifierContext(context.Background(), cfg)
}

// NewVerifierContext returns a Verifier whose JWKS refresh stops when ctx
// ends or Close is called. With JWKSURL, the first fetch of the JWK Set is
// bounded by JWKSTimeout; when it fails the Verifier is returned anyway: it
// refuses JWKS tokens and keeps retrying in the background until the keys
// arrive.
func NewVerifierContext(ctx context.Context, cfg Config) (*Verifier, error) {
	if len(cfg.Secret) == 0 && cfg.JWKSURL == "" {
		return nil, errors.New("auth: one of the JWT secret (HS256) or the JWKS URL (RS256/EdDSA) is required")
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: JWT secret must be at least %d bytes, got %d", MinSecretLen, len(cfg.Secret))
	}
	// The algorithms are pinned: no "none", and each one needs its own kind
	// of key (see keyFor), so no RS/HS confusion.
	var methods []string
	if len(cfg.Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.JWKSURL != "" {
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodEdDSA.Alg())
	}
	if len(cfg.Algorithms) > 0 {
		methods = slices.DeleteFunc(methods, func(m string) bool { return !slices.Contains(cfg.Algorithms, m) })
		if len(methods) == 0 {
			return nil, fmt.Errorf("auth: none of the algorithms %v can be verified with the keys configured", cfg.Algorithms)
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
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
	v := &Verifier{cfg: cfg, parser: jwt.NewParser(opts...)}
	if cfg.JWKSURL != "" {
		keys, err := newJWKSKeys(ctx, cfg)
		if err != nil {
			return nil, err
		}
		v.jwks = keys
	}
	return v, nil
}

// Close stops the background refresh of the JWK Set. The Verifier still
// verifies with the keys it has.
func (v *Verifier) Close() {
	if v != nil && v.jwks != nil {
		v.jwks.close()
	}
}

// Verify checks a compact JWT and returns its subject, the user id.
func (v *Verifier) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(token, &claims, v.keyFor)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if v.cfg.MaxTTL > 0 && (claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > v.cfg.MaxTTL) {
		return "", fmt.Errorf("%w: this issuer's tokens live at most %v (iat required)", ErrInvalidToken, v.cfg.MaxTTL)
	}
	sub := strings.TrimSpace(claims.Subject)
	// The user id is stored as text and sent to other apps: it must be
	// valid UTF-8 without control characters (PostgreSQL refuses NUL).
	if sub == "" || len(sub) > 255 || sub != claims.Subject || !utf8.ValidString(sub) ||
		strings.ContainsFunc(sub, unicode.IsControl) {
		return "", fmt.Errorf("%w: missing or malformed sub", ErrInvalidToken)
	}
	return sub, nil
}

// keyFor picks the key by the token's algorithm, already limited by the
// parser to the enabled ones: the shared secret for HS256, a JWKS key
// chosen by kid for RS256 and EdDSA.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch alg := t.Method.Alg(); alg {
	case jwt.SigningMethodHS256.Alg():
		if len(v.cfg.Secret) == 0 {
			return nil, errors.New("HS256 tokens are not accepted")
		}
		return v.cfg.Secret, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodEdDSA.Alg():
		if v.jwks == nil {
			return nil, fmt.Errorf("%s tokens are not accepted", alg)
		}
		return v.jwks.keyFor(t)
	default:
		return nil, fmt.Errorf("algorithm %q is not accepted", alg)
	}
}

// Mint signs a token for userID valid for ttl, with the configured issuer
// and audience. It exists for local runs and tests; production tokens come
// from an identity provider sharing the secret or publishing a JWKS.
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

package auth

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Issuers verifies the tokens of several issuers, each with its own keys,
// audience and rules (its own Verifier): a token goes to the verifier of
// the issuer its iss claim names, else to the default one. So a key of one
// issuer can never vouch for a token of another: web-app's key signs only
// tokens that say web-app issued them, and those are checked against
// web-app's keys alone. It is safe for concurrent use.
type Issuers struct {
	byIssuer map[string]*Verifier
	fallback *Verifier // nil: a token of no listed issuer is refused
}

// NewIssuers returns the verifier of fallback's tokens (those of any issuer
// not named by others; nil for none) and of each of others, which must each
// name a distinct Issuer.
func NewIssuers(fallback *Verifier, others ...*Verifier) (*Issuers, error) {
	is := &Issuers{byIssuer: map[string]*Verifier{}, fallback: fallback}
	for _, v := range others {
		iss := v.cfg.Issuer
		if iss == "" {
			return nil, errors.New("auth: a verifier of a listed issuer must name its issuer")
		}
		if _, dup := is.byIssuer[iss]; dup || (fallback != nil && fallback.cfg.Issuer == iss) {
			return nil, fmt.Errorf("auth: two verifiers for issuer %q", iss)
		}
		is.byIssuer[iss] = v
	}
	if fallback == nil && len(others) == 0 {
		return nil, errors.New("auth: no issuer to accept tokens of")
	}
	return is, nil
}

// unverified reads claims without checking the signature: only to pick
// the verifier, which then checks everything.
var unverified = jwt.NewParser()

// Verify checks a compact JWT with the verifier of its issuer and returns
// its subject, the user id.
func (is *Issuers) Verify(token string) (string, error) {
	var claims jwt.RegisteredClaims
	if _, _, err := unverified.ParseUnverified(token, &claims); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if v, ok := is.byIssuer[claims.Issuer]; ok {
		return v.Verify(token)
	}
	if is.fallback == nil {
		return "", fmt.Errorf("%w: issuer %.100q is not trusted", ErrInvalidToken, claims.Issuer)
	}
	return is.fallback.Verify(token)
}

// Close stops every verifier's background JWKS refresh.
func (is *Issuers) Close() {
	is.fallback.Close()
	for _, v := range is.byIssuer {
		v.Close()
	}
}

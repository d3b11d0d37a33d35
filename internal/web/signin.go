package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/ratelimit"
)

// sessionInfo is the answer of GET /session.
type sessionInfo struct {
	SignedIn  bool   `json:"signed_in"`
	User      string `json:"user,omitempty"`
	Name      string `json:"name,omitempty"`
	DevSignIn bool   `json:"dev_signin"`
	OIDC      bool   `json:"oidc"`
	Provider  string `json:"provider,omitempty"`
}

func (a *App) session(w http.ResponseWriter, r *http.Request) {
	info := sessionInfo{DevSignIn: a.cfg.DevSignIn, OIDC: a.oidc != nil}
	if info.OIDC {
		info.Provider = a.cfg.OIDC.ProviderName
	}
	sess, _, err := a.sessions.get(r)
	switch {
	case err == nil:
		info.SignedIn, info.User, info.Name = true, sess.User, sess.Name
	case !errors.Is(err, errNoSession):
		a.unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, info)
}

// requireSession returns the request's session, or answers 401 (or 503
// when the state store cannot be read).
func (a *App) requireSession(w http.ResponseWriter, r *http.Request) (Session, string, bool) {
	sess, id, err := a.sessions.get(r)
	if errors.Is(err, errNoSession) {
		httpx.WriteError(w, http.StatusUnauthorized, "unauthorized", "sign in first")
		return sess, "", false
	}
	if err != nil {
		a.unavailable(w, r, err)
		return sess, "", false
	}
	return sess, id, true
}

func (a *App) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "2")
	httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "try again in a moment")
}

// devUser is what the dev sign-in accepts as a user name: the user id the
// API sees, so plain and short.
var devUser = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// limit takes one token of key from l, or answers 429 with Retry-After
// and returns false.
func (a *App) limit(w http.ResponseWriter, l *ratelimit.Limiter, key, what string) bool {
	ok, wait := l.Allow(key)
	if ok {
		return true
	}
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpx.WriteError(w, http.StatusTooManyRequests, "rate_limited",
		fmt.Sprintf("too many %s from this address; retry in %d s", what, secs))
	return false
}

// devSignIn is POST /auth/dev {"user": "alice"}: a session for any name,
// when DEV_SIGNIN is on (local runs only).
func (a *App) devSignIn(w http.ResponseWriter, r *http.Request) {
	if !a.cfg.DevSignIn {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "dev sign-in is off")
		return
	}
	if !a.limit(w, a.signIns, clientKey(r, a.set.proxies), "sign-in attempts") {
		return
	}
	var body struct {
		User string `json:"user"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	if err := dec.Decode(&body); err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_json", "the body must be JSON: {\"user\": \"name\"}")
		return
	}
	user := strings.TrimSpace(body.User)
	if !devUser.MatchString(user) {
		httpx.WriteJSON(w, http.StatusBadRequest, httpx.ErrorBody{Error: httpx.ErrorDetail{Code: "invalid_field", Field: "user",
			Message: "a user name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"}})
		return
	}
	if _, err := a.sessions.create(r.Context(), w, Session{User: user, Name: user, Method: "dev"}); err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "signed in", "user_id", user, "method", "dev")
	w.WriteHeader(http.StatusNoContent)
}

// signOut is POST /auth/logout: the session ends on every replica, and
// its open streams on this one at once (the others within
// STREAM_RECHECK). It reports success only once the session is deleted;
// when the store cannot delete it, the answer is 503 and the cookie stays,
// so that the page says the sign-out failed and can try again.
func (a *App) signOut(w http.ResponseWriter, r *http.Request) {
	id, ok := a.sessions.cookieID(r)
	if !ok {
		a.sessions.clearCookie(w) // nothing of ours to end
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := a.sessions.end(r.Context(), w, id); err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.hub.endSession(hashKey("", id))
	w.WriteHeader(http.StatusNoContent)
}

// The codes of a failed OIDC sign-in, which the callback sends back to the
// page as ?signin_error=<code>; the page shows its own text for each known
// code, and a generic one for anything else: never text from the URL.
const (
	signinProviderRefused = "provider_refused"
	signinExpired         = "expired"
	signinCodeRefused     = "code_refused"
	signinBadIDToken      = "bad_id_token"
	signinBadSubject      = "bad_subject"
	signinRateLimited     = "rate_limited"
)

// oidcClient is the OIDC relying party, discovered on first use (the
// provider may come up after this app) and kept once discovery worked.
type oidcClient struct {
	cfg         OIDCConfig
	redirectURL string
	http        *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

func (o *oidcClient) get(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.http), o.cfg.Issuer)
		if err != nil {
			return nil, oauth2.Config{}, fmt.Errorf("oidc discovery of %s: %w", o.cfg.Issuer, err)
		}
		o.provider = p
	}
	return o.provider, oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.redirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: strings.Fields(o.cfg.Scopes),
	}, nil
}

// oidcLogin is GET /auth/login: off to the provider, with a PKCE challenge,
// a nonce and a state bound to this browser.
func (a *App) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "OIDC sign-in is not configured")
		return
	}
	if !a.limit(w, a.signIns, clientKey(r, a.set.proxies), "sign-in attempts") {
		return
	}
	_, oc, err := a.oidc.get(r.Context())
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	l := login{State: randomID(), Verifier: oauth2.GenerateVerifier(), Nonce: randomID()}
	if err := a.sessions.startLogin(w, l); err != nil {
		a.unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, oc.AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)), http.StatusFound)
}

// oidcCallback is GET /auth/callback: the code is exchanged with the PKCE
// verifier, the ID token verified (signature, issuer, audience, expiry,
// nonce) and a session made for its subject. Failures go back to the
// page with a message, never as a bare error page.
func (a *App) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if a.oidc == nil {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "OIDC sign-in is not configured")
		return
	}
	fail := func(code string, err error) {
		a.log.WarnContext(r.Context(), "oidc sign-in failed", "reason", code, "err", err)
		http.Redirect(w, r, "/?signin_error="+code, http.StatusSeeOther)
	}
	if ok, _ := a.signIns.Allow(clientKey(r, a.set.proxies)); !ok {
		fail(signinRateLimited, nil)
		return
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		fail(signinProviderRefused, errors.New(cleanText(e, 64)))
		return
	}
	l, err := a.sessions.finishLogin(w, r)
	if err != nil {
		fail(signinExpired, err)
		return
	}
	provider, oc, err := a.oidc.get(r.Context())
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	ctx := oidc.ClientContext(r.Context(), a.oidc.http)
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		fail(signinCodeRefused, err)
		return
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		fail(signinBadIDToken, errors.New("no ID token"))
		return
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: a.cfg.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil {
		fail(signinBadIDToken, err)
		return
	}
	if idt.Nonce != l.Nonce {
		fail(signinBadIDToken, errors.New("nonce mismatch"))
		return
	}
	if !validSubject(idt.Subject) {
		fail(signinBadSubject, errors.New("malformed sub"))
		return
	}
	var claims nameClaims
	_ = idt.Claims(&claims)
	if claims.name() == "" {
		// Many providers put the profile in the UserInfo answer only.
		claims = a.userInfoName(ctx, provider, tok, idt.Subject)
	}
	name := cleanText(firstNonEmpty(claims.name(), idt.Subject), 100)
	if _, err := a.sessions.create(r.Context(), w, Session{User: idt.Subject, Name: name, Method: "oidc"}); err != nil {
		a.unavailable(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "signed in", "user_id", idt.Subject, "method", "oidc")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// nameClaims are the claims a person's display name is taken from.
type nameClaims struct {
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
}

func (c nameClaims) name() string { return firstNonEmpty(c.Name, c.PreferredUsername, c.Email) }

// userInfoName asks the provider's UserInfo endpoint for the display name
// of the signed-in subject; an answer for another subject is ignored, and a
// failure leaves the name empty (the session is good without it).
func (a *App) userInfoName(ctx context.Context, provider *oidc.Provider, tok *oauth2.Token, sub string) nameClaims {
	var c nameClaims
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err == nil && info.Subject != sub {
		err = fmt.Errorf("UserInfo answered for subject %q", info.Subject)
	}
	if err != nil {
		a.log.WarnContext(ctx, "no display name from the UserInfo endpoint", "error", err)
		return c
	}
	_ = info.Claims(&c)
	return c
}

// validSubject applies todo-api's rules for a user id (auth.Verify): the
// API would refuse every token of another subject.
func validSubject(sub string) bool {
	return sub != "" && len(sub) <= 255 && strings.TrimSpace(sub) == sub && utf8.ValidString(sub) &&
		!strings.ContainsFunc(sub, unicode.IsControl)
}

// cleanText keeps a display string printable and short.
func cleanText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit])
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

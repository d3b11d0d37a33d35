package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
)

// StateStore is the part of the Dapr state API the sessions need.
type StateStore interface {
	GetState(ctx context.Context, store, key string) ([]byte, string, bool, error)
	Transact(ctx context.Context, store string, ops []dapr.StateOp) error
}

// Session is a signed-in browser, kept in the Dapr state store under the
// hash of its cookie value, so that any replica can serve it and sign-out
// ends it everywhere.
type Session struct {
	User    string    `json:"user"`   // the user id: the OIDC subject, or the dev sign-in name
	Name    string    `json:"name"`   // shown in the page
	Method  string    `json:"method"` // "dev" or "oidc"
	Expires time.Time `json:"expires"`
}

// sessions stores sessions and login attempts in the state store.
type sessions struct {
	state  StateStore
	store  string
	ttl    time.Duration
	secure bool
	now    func() time.Time
}

// cookieName is the session cookie's name: with Secure, the __Host- prefix
// makes browsers refuse it unless it is host-only, on path /.
func (s *sessions) cookieName() string {
	if s.secure {
		return "__Host-todo_session"
	}
	return "todo_session"
}

// loginCookie binds an OIDC login attempt to the browser that started it.
const loginCookie = "todo_login"

// loginTTL bounds the time between /auth/login and the provider's callback.
const loginTTL = 10 * time.Minute

// randomID is 32 random bytes, base64url: a session id or an OAuth state.
func randomID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// idLen is the length of randomID's values.
const idLen = 43

// hashKey is the state key of a secret value: only its hash is stored.
func hashKey(prefix, secret string) string {
	h := sha256.Sum256([]byte(secret))
	return prefix + hex.EncodeToString(h[:])
}

// create stores a new session and sets its cookie on w.
func (s *sessions) create(ctx context.Context, w http.ResponseWriter, sess Session) (string, error) {
	id := randomID()
	sess.Expires = s.now().Add(s.ttl).UTC()
	err := s.state.Transact(ctx, s.store, []dapr.StateOp{{
		Key: hashKey("session-", id), Value: sess, TTLSeconds: int(s.ttl / time.Second),
	}})
	if err != nil {
		return "", fmt.Errorf("store session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: id, Path: "/", MaxAge: int(s.ttl / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return id, nil
}

// errNoSession is a request without a live session.
var errNoSession = errors.New("not signed in")

// get returns the request's session and its id, errNoSession when there
// is none (no cookie, a malformed one, an unknown or expired session).
func (s *sessions) get(r *http.Request) (Session, string, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || len(c.Value) != idLen {
		return Session{}, "", errNoSession
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return Session{}, "", errNoSession
	}
	raw, _, found, err := s.state.GetState(r.Context(), s.store, hashKey("session-", c.Value))
	if err != nil {
		return Session{}, "", fmt.Errorf("read session: %w", err)
	}
	if !found {
		return Session{}, "", errNoSession
	}
	var sess Session
	if err := json.Unmarshal(raw, &sess); err != nil || sess.User == "" {
		return Session{}, "", errNoSession
	}
	if !s.now().Before(sess.Expires) {
		return Session{}, "", errNoSession
	}
	return sess, c.Value, nil
}

// end deletes session id and clears the cookie.
func (s *sessions) end(ctx context.Context, w http.ResponseWriter, id string) error {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	if id == "" {
		return nil
	}
	if err := s.state.Transact(ctx, s.store, []dapr.StateOp{{Key: hashKey("session-", id), Delete: true}}); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// login is an OIDC sign-in in progress, stored under its state value.
type login struct {
	Verifier string `json:"verifier"` // PKCE code verifier
	Nonce    string `json:"nonce"`
}

// startLogin stores a login attempt and binds it to the browser by a
// short-lived cookie; it returns the OAuth state.
func (s *sessions) startLogin(ctx context.Context, w http.ResponseWriter, l login) (string, error) {
	state := randomID()
	err := s.state.Transact(ctx, s.store, []dapr.StateOp{{
		Key: hashKey("login-", state), Value: l, TTLSeconds: int(loginTTL / time.Second),
	}})
	if err != nil {
		return "", fmt.Errorf("store login: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/auth/", MaxAge: int(loginTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return state, nil
}

// errBadLogin is a callback that matches no login of this browser.
var errBadLogin = errors.New("this sign-in is not the one this browser started, or it expired")

// finishLogin returns and deletes the login attempt of the callback's
// state, which must be this browser's (its cookie): a login can be
// finished once, by the browser that began it.
func (s *sessions) finishLogin(w http.ResponseWriter, r *http.Request) (login, error) {
	state := r.URL.Query().Get("state")
	c, err := r.Cookie(loginCookie)
	if err != nil || len(state) != idLen || c.Value != state {
		return login{}, errBadLogin
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/auth/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	key := hashKey("login-", state)
	raw, etag, found, err := s.state.GetState(r.Context(), s.store, key)
	if err != nil {
		return login{}, fmt.Errorf("read login: %w", err)
	}
	if !found {
		return login{}, errBadLogin
	}
	// Deleting with the ETag makes a replayed callback lose the race.
	if err := s.state.Transact(r.Context(), s.store, []dapr.StateOp{{Key: key, Delete: true, ETag: etag}}); err != nil {
		if errors.Is(err, dapr.ErrStateConflict) {
			return login{}, errBadLogin
		}
		return login{}, fmt.Errorf("delete login: %w", err)
	}
	var l login
	if err := json.Unmarshal(raw, &l); err != nil || l.Verifier == "" {
		return login{}, errBadLogin
	}
	return l, nil
}

package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
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
// hash of its id (the cookie holds the id and its MAC), so that any
// replica can serve it and sign-out ends it everywhere.
type Session struct {
	User    string    `json:"user"`   // the user id: the OIDC subject, or the dev sign-in name
	Name    string    `json:"name"`   // shown in the page
	Method  string    `json:"method"` // "dev" or "oidc"
	Expires time.Time `json:"expires"`
}

// sessions keeps sessions in the state store, behind signed cookies, and
// sign-in attempts in sealed cookies alone: nothing is written before a
// person has signed in.
type sessions struct {
	state  StateStore
	store  string
	keys   *cookieKeys
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

// loginCookie holds an OIDC sign-in attempt, sealed, in the browser that
// started it; it is sent to the callback alone (loginPath).
const (
	loginCookie = "todo_login"
	loginPath   = "/auth/callback"
)

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
		Name: s.cookieName(), Value: s.keys.signSession(id), Path: "/", MaxAge: int(s.ttl / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return id, nil
}

// errNoSession is a request without a live session.
var errNoSession = errors.New("not signed in")

// cookieID returns the session id of the request's cookie when its MAC
// is ours; no store is read.
func (s *sessions) cookieID(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return "", false
	}
	return s.keys.verifySession(c.Value)
}

// get returns the request's session and its id, errNoSession when there
// is none (no cookie, one we did not sign, an unknown or expired session).
// Only a cookie we signed costs a store read.
func (s *sessions) get(r *http.Request) (Session, string, error) {
	id, ok := s.cookieID(r)
	if !ok {
		return Session{}, "", errNoSession
	}
	return s.load(r.Context(), id)
}

// load reads session id from the store.
func (s *sessions) load(ctx context.Context, id string) (Session, string, error) {
	raw, _, found, err := s.state.GetState(ctx, s.store, hashKey("session-", id))
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
	return sess, id, nil
}

// clearCookie tells the browser to forget its session cookie.
func (s *sessions) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// deleteTries and deleteBackoff bound the attempts at deleting a session.
const (
	deleteTries   = 3
	deleteBackoff = 200 * time.Millisecond
)

// end deletes session id from the store, on every replica at once, trying
// a few times. Only once it is gone is the cookie cleared: a sign-out that
// fails leaves the browser signed in, visibly, never a session that works
// behind a page that says it ended.
func (s *sessions) end(ctx context.Context, w http.ResponseWriter, id string) error {
	var err error
	for try := range deleteTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("delete session: %w", ctx.Err())
			case <-time.After(deleteBackoff << (try - 1)):
			}
		}
		if err = s.state.Transact(ctx, s.store, []dapr.StateOp{{Key: hashKey("session-", id), Delete: true}}); err == nil {
			s.clearCookie(w)
			return nil
		}
	}
	return fmt.Errorf("delete session: %w", err)
}

// login is an OIDC sign-in in progress, sealed in the browser's cookie.
type login struct {
	State    string `json:"s"` // the OAuth state, which the callback must bring back
	Verifier string `json:"v"` // PKCE code verifier
	Nonce    string `json:"n"`
}

// startLogin seals a sign-in attempt into a short-lived cookie of this
// browser, sent to the callback alone; nothing is stored on the server.
func (s *sessions) startLogin(w http.ResponseWriter, l login) error {
	exp := s.now().Add(loginTTL)
	v, err := s.keys.sealValue(loginCookie, l, exp)
	if err != nil {
		return fmt.Errorf("seal login: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: v, Path: loginPath, MaxAge: int(loginTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// errBadLogin is a callback that matches no sign-in of this browser.
var errBadLogin = errors.New("this sign-in is not the one this browser started, or it expired")

// finishLogin returns the sign-in attempt of this browser's cookie, whose
// state must be the callback's, and clears the cookie: an attempt is
// finished once, by the browser that began it (the provider's code is
// single-use too).
func (s *sessions) finishLogin(w http.ResponseWriter, r *http.Request) (login, error) {
	state := r.URL.Query().Get("state")
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return login{}, errBadLogin
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: loginPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	var l login
	if err := s.keys.openValue(loginCookie, c.Value, s.now(), &l); err != nil {
		return login{}, errBadLogin
	}
	if len(state) != idLen || subtle.ConstantTimeCompare([]byte(state), []byte(l.State)) != 1 || l.Verifier == "" || l.Nonce == "" {
		return login{}, errBadLogin
	}
	return l, nil
}

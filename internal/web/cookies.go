package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// minCookieKeyLen is the shortest COOKIE_KEYS entry accepted (256 bits as
// hex is 64 characters; 32 bytes of anything is the floor).
const minCookieKeyLen = 32

// cookieKeys seal and sign web-app's cookies, so that what a browser
// brings back is checked without a store read: the sign-in attempt lives
// in a sealed cookie (no write before sign-in), and the session cookie
// carries a MAC of its id (a forged or random one is refused before any
// read). Each configured key gives one subkey per use (HKDF); the first
// key seals and signs, every key opens and verifies, so that keys rotate
// without signing anyone out.
type cookieKeys struct {
	seal []cipher.AEAD // AES-256-GCM, one per key
	mac  [][]byte      // HMAC-SHA256 keys, one per key
}

func parseCookieKeys(list string) (*cookieKeys, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("required: keys that seal and sign the cookies, comma-separated, each at least 32 bytes (try: openssl rand -hex 32)")
	}
	k := &cookieKeys{}
	for i, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if len(part) < minCookieKeyLen {
			return nil, fmt.Errorf("key %d: must be at least %d bytes (try: openssl rand -hex 32)", i+1, minCookieKeyLen)
		}
		sealKey, err := hkdf.Key(sha256.New, []byte(part), nil, "todo web-app: sign-in attempt cookie", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(sealKey)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		macKey, err := hkdf.Key(sha256.New, []byte(part), nil, "todo web-app: session cookie", 32)
		if err != nil {
			return nil, err
		}
		k.seal = append(k.seal, aead)
		k.mac = append(k.mac, macKey)
	}
	return k, nil
}

// sealed is the content of a sealed cookie: what it carries and until
// when it may be opened.
type sealed struct {
	Value   json.RawMessage `json:"v"`
	Expires int64           `json:"e"` // Unix seconds
}

// sealValue encrypts and authenticates v, valid until expires, for the
// cookie named name (the name is bound in: a value sealed for one cookie
// cannot be replayed as another).
func (k *cookieKeys) sealValue(name string, v any, expires time.Time) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(sealed{Value: raw, Expires: expires.Unix()})
	if err != nil {
		return "", err
	}
	aead := k.seal[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

// errBadCookie is a cookie that was not sealed or signed by us, or has
// expired.
var errBadCookie = errors.New("the cookie is not valid")

// maxSealedLen bounds what openValue decodes: a sealed sign-in attempt is
// a few hundred bytes.
const maxSealedLen = 1024

// openValue reverses sealValue into v, refusing a value of another
// cookie, tampered with, sealed by no key of ours, or expired at now.
func (k *cookieKeys) openValue(name, value string, now time.Time, v any) error {
	if len(value) > maxSealedLen {
		return errBadCookie
	}
	box, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return errBadCookie
	}
	for _, aead := range k.seal {
		if len(box) < aead.NonceSize()+aead.Overhead() {
			return errBadCookie
		}
		plain, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], []byte(name))
		if err != nil {
			continue
		}
		var s sealed
		if err := json.Unmarshal(plain, &s); err != nil || now.Unix() >= s.Expires {
			return errBadCookie
		}
		if err := json.Unmarshal(s.Value, v); err != nil {
			return errBadCookie
		}
		return nil
	}
	return errBadCookie
}

// sessionMAC is the MAC of a session id under key.
func sessionMAC(key []byte, id string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("session:" + id))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// signSession is the session cookie's value for id: the id and its MAC.
func (k *cookieKeys) signSession(id string) string { return id + "." + sessionMAC(k.mac[0], id) }

// sessionLen is the length of a session cookie's value: a randomID, a dot
// and a MAC (both 43 characters).
const sessionLen = idLen + 1 + 43

// verifySession returns the session id of a session cookie's value when
// its MAC is one of ours: a random or forged value costs no store read.
func (k *cookieKeys) verifySession(value string) (string, bool) {
	if len(value) != sessionLen {
		return "", false
	}
	id, mac, ok := strings.Cut(value, ".")
	if !ok || len(id) != idLen {
		return "", false
	}
	for _, key := range k.mac {
		if hmac.Equal([]byte(mac), []byte(sessionMAC(key, id))) {
			return id, true
		}
	}
	return "", false
}

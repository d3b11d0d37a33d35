// Package config reads 12-factor configuration from the environment. Each
// binary declares its own config struct and fills it with a Reader once, at
// start.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader collects values and the errors met reading them, so that a binary
// can report every bad variable at once.
type Reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

// FromEnv reads the process environment.
func FromEnv() *Reader { return &Reader{lookup: os.LookupEnv} }

// FromMap reads m; for tests.
func FromMap(m map[string]string) *Reader {
	return &Reader{lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func (r *Reader) get(key string) (string, bool) {
	v, ok := r.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String returns the variable or def when unset.
func (r *Reader) String(key, def string) string {
	if v, ok := r.get(key); ok {
		return v
	}
	return def
}

// Required returns the variable, recording an error when it is unset.
func (r *Reader) Required(key, hint string) string {
	v, ok := r.get(key)
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("%s is required: %s", key, hint))
	}
	return v
}

// Int returns the variable as an integer within [lo, hi], or def.
func (r *Reader) Int(key string, def, lo, hi int) int {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: must be an integer from %d to %d", key, v, lo, hi))
		return def
	}
	return n
}

// Duration returns the variable as a positive Go duration ("5s"), or def.
func (r *Reader) Duration(key string, def time.Duration) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: must be a positive duration such as 5s or 1m", key, v))
		return def
	}
	return d
}

// Bool returns the variable as a boolean, or def.
func (r *Reader) Bool(key string, def bool) bool {
	v, ok := r.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q: must be true or false", key, v))
		return def
	}
	return b
}

// Err returns every problem met so far, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Mask hides a secret for logging, keeping only whether it is set.
func Mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// MaskURL hides the password of a connection URL for logging.
func MaskURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "***"
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return s
	}
	user, _, hasPass := strings.Cut(userinfo, ":")
	if !hasPass {
		return s
	}
	return scheme + "://" + user + ":***@" + host
}

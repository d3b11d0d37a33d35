// Package config reads 12-factor configuration from the environment into one
// tagged struct per binary, with github.com/caarlos0/env, checks every value,
// and logs the struct with its secrets masked.
//
// Besides env's own env and envDefault tags, a field may carry:
//
//	check:"1..1000"      an integer in the range, bounds included
//	check:">=0"          a finite number, 0 or more
//	check:"oneof a b c"  one of the words, in any case
//	check:"addr"         a listen address, host:port such as :8080
//	check:"addr|off"     the same, or the word off
//	check:"url"          an absolute http(s) URL, or unset
//	log:"secret"         logged through Mask
//	log:"url"            logged through MaskURL
//
// Booleans must be true or false and durations positive, with no tag. A
// blank value counts as unset.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Environ returns the process environment, for Parse.
func Environ() map[string]string {
	m := make(map[string]string)
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Parse fills cfg, a pointer to a tagged struct, from environ (Environ() in
// a binary, a literal map in tests; nil is an empty environment). Fields
// already set keep their value when their variable is unset, which is how a
// binary gives a shared field its own default. The error names every bad
// variable, each on its line, with what it accepts.
func Parse(cfg any, environ map[string]string) error {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Parse needs a pointer to a struct, not %T", cfg)
	}
	vars := make(map[string]string, len(environ))
	for k, v := range environ {
		if v = strings.TrimSpace(v); v != "" {
			vars[k] = v
		}
	}
	var errs []error
	for _, f := range fields(rv.Elem()) {
		raw, set := vars[f.key]
		value := raw
		if !set {
			if def, ok := f.Tag.Lookup("envDefault"); ok {
				value = def
			} else if f.value.Kind() == reflect.String {
				value = f.value.String()
			}
		}
		if err := check(f, value); err != nil {
			errs = append(errs, err)
			delete(vars, f.key) // keep the default, and one message per variable
		}
	}
	if err := env.ParseWithOptions(cfg, env.Options{Environment: vars}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LogValue is cfg, a tagged struct or a pointer to one, as a flat group of
// its variables (key: the variable's name) with the secrets masked. Every
// env-tagged field is in it, so a new field is logged without more code.
func LogValue(cfg any) slog.Value {
	rv := reflect.Indirect(reflect.ValueOf(cfg))
	if rv.Kind() != reflect.Struct {
		return slog.StringValue(fmt.Sprintf("config: not a struct: %T", cfg))
	}
	var attrs []slog.Attr
	for _, f := range fields(rv) {
		attrs = append(attrs, slog.Attr{Key: f.key, Value: logValue(f)})
	}
	return slog.GroupValue(attrs...)
}

func logValue(f field) slog.Value {
	v := f.value
	switch f.Tag.Get("log") {
	case "secret":
		if v.IsZero() {
			return slog.StringValue("")
		}
		return slog.StringValue("***")
	case "url":
		if v.Kind() != reflect.String || v.String() == "" {
			return slog.StringValue("")
		}
		return slog.StringValue(MaskURL(v.String()))
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		return slog.StringValue(time.Duration(v.Int()).String()) // 5s, not 5000000000 in JSON
	case v.CanInt():
		return slog.Int64Value(v.Int())
	case v.CanFloat():
		return slog.Float64Value(v.Float())
	case v.Kind() == reflect.Bool:
		return slog.BoolValue(v.Bool())
	case v.Kind() == reflect.String:
		return slog.StringValue(v.String())
	}
	return slog.AnyValue(v.Interface())
}

// field is one env-tagged leaf of a config struct.
type field struct {
	reflect.StructField
	key   string
	value reflect.Value
}

// fields lists the env-tagged leaves of v in order, looking into struct
// fields without an env tag as env does.
func fields(v reflect.Value) []field {
	var out []field
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(sf.Tag.Get("env"), ",")
		fv := v.Field(i)
		switch {
		case key == "-":
		case key != "":
			out = append(out, field{StructField: sf, key: key, value: fv})
		case fv.Kind() == reflect.Struct:
			out = append(out, fields(fv)...)
		}
	}
	return out
}

// check tells whether s, the value of f (raw, default or preset), is one f
// accepts; the error names the variable and what it accepts.
func check(f field, s string) error {
	rule := f.Tag.Get("check")
	bad := func(accepts string) error { return fmt.Errorf("%s=%q: must be %s", f.key, s, accepts) }
	t := f.Type
	switch {
	case t == reflect.TypeFor[time.Duration]():
		if s == "" {
			return nil
		}
		if d, err := time.ParseDuration(s); err != nil || d <= 0 {
			return bad("a positive duration such as 5s or 1m")
		}
		return nil
	case t.Kind() == reflect.Bool:
		if _, err := strconv.ParseBool(s); s != "" && err != nil {
			return bad("true or false")
		}
		return nil
	case t.Kind() == reflect.Int:
		lo, hi, ok := parseRange(rule)
		if !ok {
			return fmt.Errorf("config: %s: check %q: want lo..hi", f.key, rule)
		}
		if s == "" {
			return nil
		}
		if n, err := strconv.Atoi(s); err != nil || n < lo || n > hi {
			return bad(fmt.Sprintf("an integer from %d to %d", lo, hi))
		}
		return nil
	case t.Kind() == reflect.Float64:
		if rule != ">=0" {
			return fmt.Errorf("config: %s: check %q: want >=0", f.key, rule)
		}
		if s == "" {
			return nil
		}
		if x, err := strconv.ParseFloat(s, 64); err != nil || !(x >= 0) || math.IsInf(x, 0) {
			return bad("a number >= 0")
		}
		return nil
	case t.Kind() == reflect.String:
		return checkString(rule, s, bad)
	}
	return fmt.Errorf("config: %s: unsupported type %s", f.key, t)
}

func checkString(rule, s string, bad func(string) error) error {
	switch {
	case rule == "":
		return nil
	case strings.HasPrefix(rule, "oneof "):
		words := strings.Fields(strings.TrimPrefix(rule, "oneof "))
		for _, w := range words {
			if strings.EqualFold(s, w) {
				return nil
			}
		}
		return bad("one of " + strings.Join(words, ", "))
	case rule == "addr":
		if !isAddr(s) {
			return bad("host:port, such as :8080 or 127.0.0.1:8080")
		}
		return nil
	case rule == "addr|off":
		if s != "off" && !isAddr(s) {
			return bad("host:port, such as :9464 or 127.0.0.1:9464, or off")
		}
		return nil
	case rule == "url":
		if s == "" {
			return nil
		}
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("an absolute http(s) URL such as https://host.example.com/path")
		}
		return nil
	}
	return fmt.Errorf("config: unknown check %q", rule)
}

func isAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

func parseRange(rule string) (lo, hi int, ok bool) {
	l, h, found := strings.Cut(rule, "..")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(l)
	hi, err2 := strconv.Atoi(h)
	return lo, hi, err1 == nil && err2 == nil && lo <= hi
}

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

package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type Inner struct {
	Token string `env:"TOKEN" log:"secret"`
	URL   string `env:"DB_URL" envDefault:"postgres://u@h/db" log:"url"`
}

type sample struct {
	Inner
	Addr    string        `env:"ADDR" check:"addr"`
	Metrics string        `env:"METRICS" envDefault:":9464" check:"addr|off"`
	Level   string        `env:"LEVEL" envDefault:"info" check:"oneof debug info warn error"`
	Size    int           `env:"SIZE" envDefault:"100" check:"1..1000"`
	Rate    float64       `env:"RATE" envDefault:"20" check:">=0"`
	Poll    time.Duration `env:"POLL" envDefault:"5s"`
	On      bool          `env:"ON" envDefault:"true"`
	Off     bool          `env:"OFF"`
	Hook    string        `env:"HOOK" check:"url"`
	Name    string        `env:"NAME" envDefault:"n"`
	Skipped string        `env:"-"`
	notEnv  string
}

func parse(t *testing.T, m map[string]string) (sample, error) {
	t.Helper()
	c := sample{Addr: ":8081"} // a binary's own default
	err := Parse(&c, m)
	return c, err
}

func TestParseDefaults(t *testing.T) {
	c, err := parse(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := sample{Inner: Inner{URL: "postgres://u@h/db"}, Addr: ":8081", Metrics: ":9464", Level: "info",
		Size: 100, Rate: 20, Poll: 5 * time.Second, On: true, Name: "n"}
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestParseValues(t *testing.T) {
	c, err := parse(t, map[string]string{
		"TOKEN": " tok ", "ADDR": "127.0.0.1:0", "METRICS": "off", "LEVEL": "WARN", "SIZE": "1000", "RATE": "0",
		"POLL": "1m", "ON": "false", "OFF": "true", "HOOK": "http://collector:4318", "NAME": "  ",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sample{Inner: Inner{Token: "tok", URL: "postgres://u@h/db"}, Addr: "127.0.0.1:0", Metrics: "off",
		Level: "WARN", Size: 1000, Rate: 0, Poll: time.Minute, On: false, Off: true, Hook: "http://collector:4318", Name: "n"}
	if c != want {
		t.Errorf("got %+v\nwant %+v (values trimmed, blank is unset)", c, want)
	}
}

func TestParseRefusesEachBadValueNamingIt(t *testing.T) {
	tests := []struct{ key, value, accepts string }{
		{"ADDR", "8080", "host:port"},
		{"ADDR", "localhost:http", "host:port"},
		{"ADDR", ":70000", "host:port"},
		{"METRICS", "none", "host:port, such as :9464 or 127.0.0.1:9464, or off"},
		{"LEVEL", "verbose", "one of debug, info, warn, error"},
		{"SIZE", "0", "an integer from 1 to 1000"},
		{"SIZE", "1001", "an integer from 1 to 1000"},
		{"SIZE", "ten", "an integer from 1 to 1000"},
		{"SIZE", "99999999999999999999", "an integer from 1 to 1000"},
		{"RATE", "-1", "a number >= 0"},
		{"RATE", "fast", "a number >= 0"},
		{"RATE", "NaN", "a number >= 0"},
		{"RATE", "+Inf", "a number >= 0"},
		{"POLL", "soon", "a positive duration such as 5s or 1m"},
		{"POLL", "5", "a positive duration"},
		{"POLL", "0s", "a positive duration"},
		{"POLL", "-1s", "a positive duration"},
		{"ON", "maybe", "true or false"},
		{"OFF", "yes", "true or false"},
		{"HOOK", "collector:4318", "an absolute http(s) URL"},
		{"HOOK", "/v1/traces", "an absolute http(s) URL"},
		{"HOOK", "ftp://collector", "an absolute http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c, err := parse(t, map[string]string{tt.key: tt.value})
			want := tt.key + "=\"" + tt.value + "\": must be " + tt.accepts
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want one containing %q", err, want)
			}
			if n := strings.Count(err.Error(), "\n"); n != 0 {
				t.Errorf("one bad variable, %d lines: %v", n+1, err)
			}
			if def, _ := parse(t, nil); c != def {
				t.Errorf("a refused value must leave the default: %+v", c)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := parse(t, map[string]string{"SIZE": "0", "LEVEL": "loud", "POLL": "x", "ON": "2"})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, key := range []string{"SIZE=", "LEVEL=", "POLL=", "ON="} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("%v does not name %s", err, key)
		}
	}
}

func TestParsePresetMustBeValidToo(t *testing.T) {
	var c sample // no preset ADDR: a binary forgot its default
	err := Parse(&c, nil)
	if err == nil || !strings.Contains(err.Error(), `ADDR="": must be host:port`) {
		t.Errorf("err = %v", err)
	}
}

func TestParseBadTags(t *testing.T) {
	var noRange struct {
		N int `env:"N"`
	}
	if err := Parse(&noRange, nil); err == nil || !strings.Contains(err.Error(), "want lo..hi") {
		t.Errorf("an int without a range: %v", err)
	}
	var unknown struct {
		S string `env:"S" check:"email"`
	}
	if err := Parse(&unknown, nil); err == nil || !strings.Contains(err.Error(), "unknown check") {
		t.Errorf("unknown check: %v", err)
	}
	if err := Parse(sample{}, nil); err == nil {
		t.Error("a struct, not a pointer, was accepted")
	}
}

func TestLogValue(t *testing.T) {
	c, err := parse(t, map[string]string{"TOKEN": "tok-secret", "DB_URL": "postgres://u:pw-secret@h/db", "SIZE": "7"})
	if err != nil {
		t.Fatal(err)
	}
	c.Skipped, c.notEnv = "skipped-value", "not-env-value"
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", LogValue(&c))
	var line struct{ Config map[string]any }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"TOKEN": "***", "DB_URL": "postgres://u:***@h/db", "ADDR": ":8081", "METRICS": ":9464", "LEVEL": "info",
		"SIZE": 7.0, "RATE": 20.0, "POLL": "5s", "ON": true, "OFF": false, "HOOK": "", "NAME": "n",
	}
	for k, v := range want {
		if line.Config[k] != v {
			t.Errorf("%s logged as %v (%T), want %v", k, line.Config[k], line.Config[k], v)
		}
	}
	if len(line.Config) != len(want) {
		t.Errorf("logged %d variables, want %d: %v", len(line.Config), len(want), line.Config)
	}
	for _, s := range []string{"tok-secret", "pw-secret", "skipped-value", "not-env-value"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log shows %q: %s", s, buf.String())
		}
	}
	if got := LogValue(c).String(); got != LogValue(&c).String() {
		t.Errorf("value and pointer log differently: %s", got)
	}
	if unset := LogValue(sample{}).Group(); unset[0].Value.String() != "" {
		t.Errorf("an unset secret must log empty, got %q", unset[0].Value)
	}
}

func TestMask(t *testing.T) {
	tests := map[string]string{
		"postgres://user:secret@host:5432/db?sslmode=require": "postgres://user:***@host:5432/db?sslmode=require",
		"postgres://user@host/db":                             "postgres://user@host/db",
		"host=x password=y":                                   "***",
	}
	for in, want := range tests {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
	if Mask("") != "" || Mask("s") != "***" {
		t.Error("Mask")
	}
}

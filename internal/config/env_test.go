package config

import (
	"strings"
	"testing"
	"time"
)

func TestReader(t *testing.T) {
	r := FromMap(map[string]string{
		"S": " value ", "N": "42", "BAD_N": "x", "BIG_N": "99999", "D": "5s", "BAD_D": "-1s", "B": "true", "BAD_B": "maybe",
		"EMPTY": "  ",
	})
	if got := r.String("S", "def"); got != "value" {
		t.Errorf("String = %q", got)
	}
	if got := r.String("EMPTY", "def"); got != "def" {
		t.Errorf("blank value must count as unset, got %q", got)
	}
	if got := r.Int("N", 1, 0, 100); got != 42 {
		t.Errorf("Int = %d", got)
	}
	if got := r.Duration("D", time.Second); got != 5*time.Second {
		t.Errorf("Duration = %s", got)
	}
	if !r.Bool("B", false) {
		t.Error("Bool = false")
	}
	if r.Err() != nil {
		t.Fatalf("no error expected yet: %v", r.Err())
	}
	r.Int("BAD_N", 1, 0, 100)
	r.Int("BIG_N", 1, 0, 100)
	r.Duration("BAD_D", time.Second)
	r.Bool("BAD_B", false)
	r.Required("MISSING", "needed for X")
	err := r.Err()
	if err == nil {
		t.Fatal("bad values were accepted")
	}
	for _, name := range []string{"BAD_N", "BIG_N", "BAD_D", "BAD_B", "MISSING is required: needed for X"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not mention %s: %v", name, err)
		}
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

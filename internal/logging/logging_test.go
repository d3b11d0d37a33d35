package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		cfg        Config
		debug      bool
		wantPrefix string
	}{
		{Config{Level: "info", Format: "json"}, false, `{"time":`},
		{Config{Level: "DEBUG", Format: "TEXT"}, true, `time=`},
		{Config{Level: "warn", Format: "text"}, false, `time=`},
		{Config{}, false, `{"time":`}, // unset: info, JSON
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log := New(&buf, "svc", tt.cfg)
		log.Debug("d")
		log.Warn("w")
		out := buf.String()
		if !strings.HasPrefix(out, tt.wantPrefix) || !strings.Contains(out, "svc") {
			t.Errorf("%+v: %q", tt.cfg, out)
		}
		if got := strings.Count(out, "\n"); got != map[bool]int{false: 1, true: 2}[tt.debug] {
			t.Errorf("%+v: %d lines: %q", tt.cfg, got, out)
		}
	}
}

// Package logging builds the services' slog loggers: JSON by default, text
// with LOG_FORMAT=text, level from LOG_LEVEL (debug, info, warn, error).
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// New returns a logger for service writing to w.
func New(w io.Writer, service string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if strings.EqualFold(os.Getenv("LOG_FORMAT"), "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}

// Package logging builds the services' slog loggers: JSON by default, text
// with LOG_FORMAT=text, level from LOG_LEVEL (debug, info, warn, error).
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// Config is the logger's part of a binary's configuration, parsed and
// checked by package config.
type Config struct {
	Level  string `env:"LOG_LEVEL" envDefault:"info" check:"oneof debug info warn error"`
	Format string `env:"LOG_FORMAT" envDefault:"json" check:"oneof json text"`
}

// New returns a logger for service writing to w. An empty or unknown level
// is info; config.Parse refuses unknown ones before.
func New(w io.Writer, service string, c Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if strings.EqualFold(c.Format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}

package task

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a task may hold. They are part of the API contract and are
// documented in the OpenAPI description.
const (
	MaxTitleLen       = 200
	MaxDescriptionLen = 4000
	MaxTags           = 20
	MaxTagLen         = 50
	MaxTimezoneLen    = 64
)

// ValidationError says which field of a client's input is wrong and why.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// IsValidationError reports whether err is (or wraps) a *ValidationError.
func IsValidationError(err error) bool {
	var ve *ValidationError
	return errors.As(err, &ve)
}

// Normalize trims and checks the client-controlled fields of t.
func Normalize(t Task) (Task, error) {
	t.Title = strings.TrimSpace(t.Title)
	switch n := utf8.RuneCountInString(t.Title); {
	case n == 0:
		return t, invalid("title", "must not be empty")
	case n > MaxTitleLen:
		return t, invalid("title", "must be at most %d characters, got %d", MaxTitleLen, n)
	}
	if n := utf8.RuneCountInString(t.Description); n > MaxDescriptionLen {
		return t, invalid("description", "must be at most %d characters, got %d", MaxDescriptionLen, n)
	}
	if t.Priority < PriorityNone || t.Priority > PriorityHigh {
		return t, invalid("priority", "must be one of none, low, medium, high")
	}
	tags, err := normalizeTags(t.Tags)
	if err != nil {
		return t, err
	}
	t.Tags = tags
	if _, err := ParseRecurrence(string(t.Recurrence)); err != nil {
		return t, invalid("recurrence", "%s", err.Error())
	}
	if err := checkTimezone(t.Timezone); err != nil {
		return t, err
	}
	t.DueAt = utc(t.DueAt)
	t.ReminderAt = utc(t.ReminderAt)
	t.RecurrenceAnchor = utc(t.RecurrenceAnchor)
	return t, nil
}

func normalizeTags(in []string) ([]string, error) {
	if len(in) > MaxTags {
		return nil, invalid("tags", "at most %d tags are allowed, got %d", MaxTags, len(in))
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, raw := range in {
		tag := strings.TrimSpace(raw)
		switch n := utf8.RuneCountInString(tag); {
		case n == 0:
			return nil, invalid("tags", "tags must not be empty")
		case n > MaxTagLen:
			return nil, invalid("tags", "each tag must be at most %d characters", MaxTagLen)
		}
		if !seen[tag] {
			seen[tag] = true
			out = append(out, tag)
		}
	}
	return out, nil
}

func checkTimezone(name string) error {
	if name == "" || name == "Local" || len(name) > MaxTimezoneLen {
		return invalid("timezone", "must be an IANA time zone name such as UTC or Europe/Berlin")
	}
	if _, err := time.LoadLocation(name); err != nil {
		return invalid("timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin", name)
	}
	return nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	// PostgreSQL keeps microseconds; truncate here so that what we answer is
	// what we store.
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

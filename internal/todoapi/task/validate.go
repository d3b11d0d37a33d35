package task

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // every binary that validates accepts the same zone names; see checkTimezone
	"unicode/utf8"

	"github.com/evolution-todo/todo/internal/recurrence"
)

//go:generate go run genzones.go

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
	if err := checkText("title", t.Title); err != nil {
		return t, err
	}
	switch n := utf8.RuneCountInString(t.Title); {
	case n == 0:
		return t, invalid("title", "must not be empty")
	case n > MaxTitleLen:
		return t, invalid("title", "must be at most %d characters, got %d", MaxTitleLen, n)
	}
	if err := checkText("description", t.Description); err != nil {
		return t, err
	}
	if n := utf8.RuneCountInString(t.Description); n > MaxDescriptionLen {
		return t, invalid("description", "must be at most %d characters, got %d", MaxDescriptionLen, n)
	}
	if !t.Priority.Valid() {
		return t, invalid("priority", "%s", ExpectedPriority())
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
	if t.RepeatFrom == "" {
		t.RepeatFrom = recurrence.FromDue
	}
	if !slices.Contains(recurrence.RepeatFroms(), t.RepeatFrom) {
		return t, invalid("repeat_from", "must be one of due, completion")
	}
	if len(t.Reminders) > MaxReminders {
		return t, invalid("reminders", "at most %d reminders, got %d", MaxReminders, len(t.Reminders))
	}
	for i, r := range t.Reminders {
		switch {
		case r.Before == nil && r.At == nil:
			return t, invalid("reminders", `each reminder has "before" or "at"`)
		case r.Before != nil && t.DueAt == nil:
			return t, invalid("reminders", "a reminder before the due time needs a due time")
		case r.At != nil:
			if !TimeInRange(*r.At) {
				return t, invalid("reminders", "must be times in the years 0001 to 9999 UTC")
			}
			t.Reminders[i].At = utc(r.At)
		}
	}
	if t.Reminders == nil {
		t.Reminders = []ReminderSpec{}
	}
	if t.SeriesIndex < 1 {
		t.SeriesIndex = 1
	}
	t.DueAt = utc(t.DueAt)
	t.ReminderAt = utc(t.ReminderAt)
	t.RecurrenceAnchor = utc(t.RecurrenceAnchor)
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"due_at", t.DueAt}, {"reminder_at", t.ReminderAt}, {"due_at", t.RecurrenceAnchor}} {
		if f.t != nil && !TimeInRange(*f.t) {
			return t, invalid(f.name, "must be a time in the years 0001 to 9999 UTC")
		}
	}
	return t, nil
}

// TimeInRange reports whether t falls in the years 1 to 9999 UTC: the times
// that RFC 3339, JSON answers and PostgreSQL's timestamptz text form all
// hold. A time such as 9999-12-31T23:59:59-23:59 is in year 10000 UTC.
func TimeInRange(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

// CheckText reports an error on field unless s can be stored as PostgreSQL
// text: valid UTF-8 without NUL characters.
func CheckText(field, s string) error { return checkText(field, s) }

func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "must not contain NUL (U+0000) characters")
	}
	return nil
}

func normalizeTags(in []string) ([]string, error) {
	if len(in) > MaxTags {
		return nil, invalid("tags", "at most %d tags are allowed, got %d", MaxTags, len(in))
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, raw := range in {
		tag := strings.TrimSpace(raw)
		if err := checkText("tags", tag); err != nil {
			return nil, err
		}
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

// checkTimezone accepts the names of the IANA time zone database embedded
// in the binary (zones.go, generated from the toolchain's tzdata): its
// zones and its backward-compatible links such as US/Eastern or
// Asia/Calcutta, which IANA keeps for good and some browsers still report.
// It never asks the host, whose /usr/share/zoneinfo also holds files that
// are not zones (posixrules, localtime, right/..., posix/...); Factory is
// left out too. Every accepted name loads from the embedded data, so
// time.LoadLocation cannot fail on it on any host. The rules a zone loads
// with are the host's when it has a zoneinfo database (time.LoadLocation
// reads it first) and the embedded ones otherwise, as in the distroless
// images: hosts with an older tzdata than the toolchain's may place an
// occurrence differently around a rule change that the older data lacks.
func checkTimezone(name string) error {
	if name == "" || len(name) > MaxTimezoneLen || checkText("timezone", name) != nil {
		return invalid("timezone", "must be an IANA time zone name such as UTC or Europe/Berlin")
	}
	if !IsTimezone(name) {
		return invalid("timezone", "unknown time zone %q; use an IANA name such as Europe/Berlin", name)
	}
	return nil
}

// IsTimezone reports whether name is an IANA time zone (or link) name of
// the embedded database.
func IsTimezone(name string) bool {
	_, found := slices.BinarySearch(zoneNames[:], name)
	return found
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

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// readObject reads a JSON object body of at most MaxBodyBytes and returns its
// members, refusing any member not in allowed.
func readObject(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "",
				"send the body as JSON with Content-Type: application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "",
				fmt.Sprintf("request body must be at most %d bytes", MaxBodyBytes))
		}
		return nil, errorf(http.StatusBadRequest, CodeInvalidJSON, "", "could not read request body")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body must be a JSON object")
	}
	if err := checkJSONShape(trimmed); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&members); err != nil {
		return nil, errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body is not valid JSON: "+err.Error())
	}
	if dec.More() {
		return nil, errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body must hold exactly one JSON object")
	}
	// encoding/json replaces invalid UTF-8 with U+FFFD: refuse it instead
	// of storing what the client did not send, naming the field it is in.
	for name, raw := range members {
		if !utf8.Valid(raw) && slices.Contains(allowed, name) {
			return nil, badField(name, "must be valid UTF-8")
		}
	}
	if !utf8.Valid(trimmed) {
		return nil, errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body must be UTF-8")
	}
	for name := range members {
		if !slices.Contains(allowed, name) {
			return nil, errorf(http.StatusBadRequest, CodeUnknownField, name,
				fmt.Sprintf("unknown field %q; allowed fields: %s", name, strings.Join(allowed, ", ")))
		}
	}
	return members, nil
}

// MaxJSONDepth bounds the nesting of a request body; no valid body nests
// deeper than 2 (an object holding an array).
const MaxJSONDepth = 32

// checkJSONShape walks body's tokens and refuses a duplicate object key at
// any depth (encoding/json would keep the last one silently), a key that
// is not valid UTF-8, and nesting deeper than MaxJSONDepth.
func checkJSONShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys     map[string]bool // nil for an array
		wantsKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errorf(http.StatusBadRequest, CodeInvalidJSON, "", "request body is not valid JSON: "+err.Error())
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].keys != nil && stack[top].wantsKey {
			if key, ok := tok.(string); ok {
				if stack[top].keys[key] {
					return errorf(http.StatusBadRequest, CodeInvalidJSON, key,
						fmt.Sprintf("duplicate key %q in the request body", key))
				}
				stack[top].keys[key] = true
				stack[top].wantsKey = false
				continue
			}
		}
		if top >= 0 && stack[top].keys != nil {
			stack[top].wantsKey = true // a value was read (or the object ends)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= MaxJSONDepth {
				return errorf(http.StatusBadRequest, CodeInvalidJSON, "",
					fmt.Sprintf("request body nests deeper than %d levels", MaxJSONDepth))
			}
			f := frame{}
			if tok == json.Delim('{') {
				f = frame{keys: map[string]bool{}, wantsKey: true}
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// writableFields are the task fields a client may set.
var writableFields = []string{"title", "description", "priority", "tags", "due_at", "reminder_at", "reminders",
	"recurrence", "rrule", "repeat_from", "timezone"}

// decodePatch turns the members of a create or update body into a Patch.
func decodePatch(members map[string]json.RawMessage) (task.Patch, error) {
	var p task.Patch
	for name, raw := range members {
		null := string(bytes.TrimSpace(raw)) == "null"
		var err error
		switch name {
		case "title":
			if null {
				return p, badField(name, "must be a string")
			}
			p.Title, err = decodeValue[string](name, raw, "must be a string")
		case "description":
			p.Description, err = decodeValue[string](name, raw, "must be a string or null")
		case "priority":
			var s task.Field[string]
			if s, err = decodeValue[string](name, raw, task.ExpectedPriority()); err == nil && !null {
				var pr task.Priority
				if pr, err = task.ParsePriority(s.Value); err != nil {
					err = badField(name, err.Error())
				}
				p.Priority = task.Some(pr)
			} else if err == nil {
				p.Priority = task.Some(task.PriorityNone)
			}
		case "tags":
			p.Tags, err = decodeValue[[]string](name, raw, "must be an array of strings")
			if p.Tags.Value == nil {
				p.Tags.Value = []string{}
			}
		case "due_at":
			p.DueAt, err = decodeTime(name, raw, null)
		case "reminder_at":
			p.ReminderAt, err = decodeTime(name, raw, null)
		case "recurrence":
			var s task.Field[string]
			if s, err = decodeValue[string](name, raw, recurrence.Expected()); err == nil {
				v := s.Value
				if null {
					v = string(task.RecurrenceNone)
				}
				var rec task.Recurrence
				if rec, err = task.ParseRecurrence(v); err != nil {
					err = badField(name, err.Error())
				}
				p.Recurrence = task.Some(rec)
			}
		case "reminders":
			if null {
				p.Reminders = task.Some([]task.ReminderSpec{})
				break
			}
			var list []json.RawMessage
			if json.Unmarshal(raw, &list) != nil {
				return p, badField(name, `must be an array of reminders: {"before": "PT15M"} or {"at": "<RFC 3339 time>"}`)
			}
			if len(list) > task.MaxReminders {
				return p, badField(name, fmt.Sprintf("at most %d reminders, got %d", task.MaxReminders, len(list)))
			}
			specs := make([]task.ReminderSpec, len(list))
			for i, item := range list {
				if e := specs[i].UnmarshalJSON(item); e != nil {
					return p, badField(name, fmt.Sprintf("reminder %d: %v", i+1, e))
				}
			}
			p.Reminders = task.Some(specs)
		case "rrule":
			if null {
				p.RRule = task.Some[*string](nil)
				break
			}
			var v task.Field[string]
			if v, err = decodeValue[string](name, raw, "must be an RFC 5545 RRULE value such as FREQ=WEEKLY;BYDAY=MO,TH, or null"); err == nil {
				p.RRule = task.Some(&v.Value)
			}
		case "repeat_from":
			var v task.Field[string]
			if v, err = decodeValue[string](name, raw, "must be one of due, completion"); err == nil {
				from := task.RepeatFrom(v.Value)
				if null {
					from = recurrence.FromDue
				}
				if !slices.Contains(recurrence.RepeatFroms(), from) {
					err = badField(name, "must be one of due, completion")
				}
				p.RepeatFrom = task.Some(from)
			}
		case "timezone":
			if null {
				return p, badField(name, "must be an IANA time zone name such as UTC or Europe/Berlin")
			}
			p.Timezone, err = decodeValue[string](name, raw, "must be an IANA time zone name such as UTC or Europe/Berlin")
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

func decodeValue[T any](name string, raw json.RawMessage, msg string) (task.Field[T], error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return task.Field[T]{}, badField(name, msg)
	}
	return task.Some(v), nil
}

func decodeTime(name string, raw json.RawMessage, null bool) (task.Field[*time.Time], error) {
	if null {
		return task.Some[*time.Time](nil), nil
	}
	const msg = "must be an RFC 3339 time such as 2025-01-31T09:00:00Z, or null"
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return task.Field[*time.Time]{}, badField(name, msg)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return task.Field[*time.Time]{}, badField(name, msg)
	}
	return task.Some(&t), nil
}

func badField(name, msg string) error {
	return errorf(http.StatusBadRequest, CodeInvalidField, name, name+": "+msg)
}

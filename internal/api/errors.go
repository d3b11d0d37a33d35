package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/evolution-todo/todo/internal/task"
)

// Error codes of the API. Every error answer has the body
// {"error": {"code": "...", "message": "...", "field": "..."}}.
const (
	CodeInvalidJSON      = "invalid_json"
	CodeUnknownField     = "unknown_field"
	CodeInvalidField     = "invalid_field"
	CodeInvalidQuery     = "invalid_query"
	CodeInvalidCursor    = "invalid_cursor"
	CodeInvalidID        = "invalid_id"
	CodeBodyTooLarge     = "body_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeUnauthorized     = "unauthorized"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
	CodeUnavailable      = "unavailable"
)

// apiError is an error with its HTTP answer.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, field, msg string) *apiError {
	return &apiError{Status: status, Code: code, Field: field, Message: msg}
}

// toAPIError maps any error to its answer; this is the one place where
// domain errors become HTTP statuses.
func toAPIError(err error) (*apiError, bool) {
	var ae *apiError
	var ve *task.ValidationError
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.As(err, &ve):
		return errorf(http.StatusBadRequest, CodeInvalidField, ve.Field, ve.Error()), true
	case errors.Is(err, task.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "", "task not found"), true
	case errors.Is(err, task.ErrBadCursor):
		return errorf(http.StatusBadRequest, CodeInvalidCursor, "cursor", err.Error()), true
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "", "internal error; it has been logged"), false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]*apiError{"error": e})
}

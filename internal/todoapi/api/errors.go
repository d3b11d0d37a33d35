package api

import (
	"errors"
	"net/http"

	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/todoapi/task"
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
	CodeRateLimited      = "rate_limited"
	CodeNotRepeating     = "not_repeating"
)

// apiError is an error with its HTTP answer.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
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
	case errors.Is(err, task.ErrNotRepeating):
		return errorf(http.StatusConflict, CodeNotRepeating, "", err.Error()), true
	case errors.Is(err, task.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "", err.Error()), true
	case errors.Is(err, task.ErrBadCursor):
		return errorf(http.StatusBadRequest, CodeInvalidCursor, "cursor", err.Error()), true
	}
	return errorf(http.StatusInternalServerError, CodeInternal, "", "internal error; it has been logged"), false
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

func writeAPIError(w http.ResponseWriter, e *apiError) {
	httpx.WriteJSON(w, e.Status, httpx.ErrorBody{Error: httpx.ErrorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
}

package client

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes the API answers with, in Error.Code.
const (
	CodeInvalidJSON      = "invalid_json"           // the body is not one JSON object of UTF-8 without duplicate keys
	CodeUnknownField     = "unknown_field"          // the body has a member the route does not take
	CodeInvalidField     = "invalid_field"          // a member of the body has a value the API refuses
	CodeInvalidQuery     = "invalid_query"          // a query parameter is unknown, repeated or refused
	CodeInvalidCursor    = "invalid_cursor"         // the cursor is not one the API gave for this query
	CodeInvalidID        = "invalid_id"             // the id in the path is malformed
	CodeBodyTooLarge     = "body_too_large"         // the body is over 64 KiB
	CodeUnsupportedMedia = "unsupported_media_type" // the body is not sent as JSON
	CodeUnauthorized     = "unauthorized"           // the token is missing, malformed, expired or refused
	CodeNotFound         = "not_found"              // no such task or notification of the caller
	CodeMethodNotAllowed = "method_not_allowed"     // the route does not take this method
	CodeRateLimited      = "rate_limited"           // too many writes; see Error.RetryAfter
	CodeUnavailable      = "unavailable"            // a service the route needs is unreachable; retry later
	CodeInternal         = "internal"               // the API failed; it has logged why
)

// Error is the API's answer to a request it did not carry out: the HTTP
// status and the API's error body {"error": {"code", "message", "field"}}.
// Every method of Client returns one, wrapped or not, for any status
// outside 2xx; use errors.As to get at it.
type Error struct {
	StatusCode int    // HTTP status
	Code       string // one of the Code constants; empty when the body is not the API's error body
	Message    string // for people
	Field      string // the body member or query parameter at fault, when there is one

	// RetryAfter is the wait the API asks for (the Retry-After header of a
	// 429), or 0.
	RetryAfter time.Duration
	// Body is the answer's body as it came (at most 1 MiB).
	Body []byte
}

// Error describes the refusal.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("todo api: ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Field != "" {
		b.WriteString(" (" + e.Field + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// newError reads a non-2xx answer into an *Error.
func newError(resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{StatusCode: resp.StatusCode, Body: body}
	var wire struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &wire) == nil && wire.Error.Code != "" {
		e.Code, e.Message, e.Field = wire.Error.Code, wire.Error.Message, wire.Error.Field
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = strings.ToValidUTF8(e.Message[:200], "") + "..."
		}
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

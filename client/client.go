// Package client is a typed Go client of the todo REST API (todo-api): one
// method per route of its OpenAPI description, the request and answer types
// of the API, and *Error for every refusal.
//
//	c := client.New("http://localhost:8080", token)
//	t, err := c.CreateTask(ctx, client.NewTask{Title: "Buy milk", Priority: client.PriorityHigh})
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest {
//		// apiErr.Code, apiErr.Field and apiErr.Message say what was wrong
//	}
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one call of a Client made without WithHTTPClient.
const DefaultTimeout = 30 * time.Second

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 1 << 20

// Client calls one todo-api as one user, named by the bearer token.
type Client struct {
	base      string
	token     string
	http      *http.Client
	userAgent string
}

// Option changes how a Client is made.
type Option func(*options)

type options struct {
	http      *http.Client
	transport http.RoundTripper
	userAgent string
}

// WithHTTPClient makes the Client send its requests with hc instead of an
// http.Client with DefaultTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.http = hc } }

// WithTransport makes the Client send its requests through rt, for example
// to add headers, record or check the traffic. With WithHTTPClient, rt
// replaces that client's Transport in the Client's own copy of it.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// New returns a Client of the API at baseURL (such as
// "http://localhost:8080") that authenticates with the bearer token.
func New(baseURL, token string, opts ...Option) *Client {
	o := options{userAgent: "todo-client"}
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.http
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	if o.transport != nil {
		cp := *hc
		cp.Transport = o.transport
		hc = &cp
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: hc, userAgent: o.userAgent}
}

// CreateTask creates a task (POST /api/tasks) and returns it as stored.
func (c *Client) CreateTask(ctx context.Context, t NewTask) (Task, error) {
	var out Task
	err := c.call(ctx, http.MethodPost, "/api/tasks", nil, t, http.StatusCreated, &out)
	return out, err
}

// ListTasks returns one page of the caller's tasks (GET /api/tasks).
// Pass the page's NextCursor as q.Cursor, with the same Sort and Order, for
// the next page.
func (c *Client) ListTasks(ctx context.Context, q ListQuery) (TaskPage, error) {
	var out TaskPage
	err := c.call(ctx, http.MethodGet, "/api/tasks", q.Values(), nil, http.StatusOK, &out)
	return out, err
}

// GetTask returns one of the caller's tasks (GET /api/tasks/{id}).
func (c *Client) GetTask(ctx context.Context, id int64) (Task, error) {
	var out Task
	err := c.call(ctx, http.MethodGet, taskPath(id, ""), nil, nil, http.StatusOK, &out)
	return out, err
}

// UpdateTask changes the fields that p sets (PATCH /api/tasks/{id}) and
// returns the task after the change.
func (c *Client) UpdateTask(ctx context.Context, id int64, p TaskPatch) (Task, error) {
	var out Task
	err := c.call(ctx, http.MethodPatch, taskPath(id, ""), nil, p, http.StatusOK, &out)
	return out, err
}

// DeleteTask deletes a task (DELETE /api/tasks/{id}).
func (c *Client) DeleteTask(ctx context.Context, id int64) error {
	return c.call(ctx, http.MethodDelete, taskPath(id, ""), nil, nil, http.StatusNoContent, nil)
}

// CompleteTask marks a task completed (POST /api/tasks/{id}/complete) and
// returns it; completing a completed task changes nothing.
func (c *Client) CompleteTask(ctx context.Context, id int64) (Task, error) {
	var out Task
	err := c.call(ctx, http.MethodPost, taskPath(id, "/complete"), nil, nil, http.StatusOK, &out)
	return out, err
}

// ReopenTask marks a task open again (POST /api/tasks/{id}/reopen) and
// returns it; reopening an open task changes nothing.
func (c *Client) ReopenTask(ctx context.Context, id int64) (Task, error) {
	var out Task
	err := c.call(ctx, http.MethodPost, taskPath(id, "/reopen"), nil, nil, http.StatusOK, &out)
	return out, err
}

// SkipTask closes an occurrence of a repeating task without doing it
// (POST /api/tasks/{id}/skip) and returns it; the next occurrence follows
// as after a completion. A task that does not repeat answers 409
// not_repeating; skipping a closed task changes nothing.
func (c *Client) SkipTask(ctx context.Context, id int64) (Task, error) {
	var out Task
	err := c.call(ctx, http.MethodPost, taskPath(id, "/skip"), nil, nil, http.StatusOK, &out)
	return out, err
}

// PreviewRecurrence returns the next count occurrences (1 to 50; 0 for the
// server's 5) of an RFC 5545 rule from start in the IANA zone (empty for
// UTC), and the rule in plain English (GET /api/recurrence/preview).
func (c *Client) PreviewRecurrence(ctx context.Context, rrule string, start time.Time, zone string, count int) (RecurrencePreview, error) {
	q := url.Values{"rrule": {rrule}, "start": {start.Format(time.RFC3339)}}
	if zone != "" {
		q.Set("timezone", zone)
	}
	if count > 0 {
		q.Set("count", strconv.Itoa(count))
	}
	var out RecurrencePreview
	err := c.call(ctx, http.MethodGet, "/api/recurrence/preview", q, nil, http.StatusOK, &out)
	return out, err
}

// History returns one page of a task's events in version order (GET
// /api/tasks/{id}/history), also after the task was deleted.
func (c *Client) History(ctx context.Context, id int64, q PageQuery) (HistoryPage, error) {
	var out HistoryPage
	err := c.call(ctx, http.MethodGet, taskPath(id, "/history"), q.Values(), nil, http.StatusOK, &out)
	return out, err
}

// Notifications returns one page of the caller's reminders inbox, newest
// first (GET /api/notifications).
func (c *Client) Notifications(ctx context.Context, q PageQuery) (InboxPage, error) {
	var out InboxPage
	err := c.call(ctx, http.MethodGet, "/api/notifications", q.Values(), nil, http.StatusOK, &out)
	return out, err
}

// MarkNotificationRead marks one of the caller's notifications read (POST
// /api/notifications/{id}/read) and returns it.
func (c *Client) MarkNotificationRead(ctx context.Context, id string) (Notification, error) {
	var out Notification
	err := c.call(ctx, http.MethodPost, "/api/notifications/"+url.PathEscape(id)+"/read", nil, nil, http.StatusOK, &out)
	return out, err
}

// Health reports whether the process answers (GET /healthz).
func (c *Client) Health(ctx context.Context) error {
	var out struct {
		Status string `json:"status"`
	}
	return c.call(ctx, http.MethodGet, "/healthz", nil, nil, http.StatusOK, &out)
}

// Ready returns the readiness of the API and its database (GET /readyz).
// When a dependency is unreachable it returns the readiness, which names
// it, and an *Error with status 503.
func (c *Client) Ready(ctx context.Context) (Readiness, error) {
	var out Readiness
	err := c.call(ctx, http.MethodGet, "/readyz", nil, nil, http.StatusOK, &out)
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusServiceUnavailable {
		if jerr := json.Unmarshal(apiErr.Body, &out); jerr != nil {
			return Readiness{}, err
		}
	}
	return out, err
}

// OpenAPIYAML returns the API's OpenAPI 3 description as YAML (GET
// /api/openapi.yaml).
func (c *Client) OpenAPIYAML(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.call(ctx, http.MethodGet, "/api/openapi.yaml", nil, nil, http.StatusOK, &out)
	return out, err
}

// OpenAPIJSON returns the API's OpenAPI 3 description as JSON (GET
// /api/openapi.json).
func (c *Client) OpenAPIJSON(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.call(ctx, http.MethodGet, "/api/openapi.json", nil, nil, http.StatusOK, &out)
	return out, err
}

func taskPath(id int64, suffix string) string {
	return "/api/tasks/" + strconv.FormatInt(id, 10) + suffix
}

// public reports whether path is a route without authentication.
func public(path string) bool {
	return path == "/healthz" || path == "/readyz" || strings.HasPrefix(path, "/api/openapi.")
}

// call sends one request with body in (JSON, when not nil) and, when the
// answer has status want, decodes it into out: a *[]byte takes the body as
// it is, anything else is decoded as JSON. Another 2xx is an error; a
// non-2xx answer is an *Error.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in any, want int, out any) error {
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(in); err != nil {
			return fmt.Errorf("client: %s %s: encode the body: %w", method, path, err)
		}
		body = &buf
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if !public(path) {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newError(resp)
	}
	if resp.StatusCode != want {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return fmt.Errorf("client: %s %s: status %d, want %d", method, path, resp.StatusCode, want)
	}
	switch dst := out.(type) {
	case nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	case *[]byte:
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("client: %s %s: read the answer: %w", method, path, err)
		}
		*dst = b
		return nil
	default:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("client: %s %s: decode the answer: %w", method, path, err)
		}
		return nil
	}
}

// Package auditapi is the contract of audit-service's invocation routes: a
// task's history, page by page, and the dead letters.
package auditapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
)

// AppID is audit-service's default Dapr app id.
const AppID = "audit-service"

// Routes audit-service serves for invocation.
const (
	RouteHistory     = "GET /tasks/{id}/history"
	RouteDeadLetters = "GET /" + PathDeadLetters
	PathDeadLetters  = "dead-letters"
)

// PathHistory is the method path of task id's history.
func PathHistory(id int64) string { return "tasks/" + strconv.FormatInt(id, 10) + "/history" }

// Page bounds of the history. A page also ends once its events' data
// passes HistoryPageBytes, so that an answer stays far below what a
// caller's sidecar client reads (dapr.MaxResponseBytes).
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
	HistoryPageBytes    = 1 << 20
)

// Entry is one event of a task's history.
type Entry struct {
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	Version    int             `json:"version"`
	Timestamp  time.Time       `json:"timestamp"`
	ReceivedAt time.Time       `json:"received_at"`
	Data       json.RawMessage `json:"data"`
}

// HistoryPage is one page of a task's events in version order; NextCursor
// is null on the last page.
type HistoryPage struct {
	TaskID     int64   `json:"task_id"`
	Events     []Entry `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

// HistoryQuery selects a page: after Cursor (a NextCursor; "" from the
// start), at most Limit events (DefaultHistoryLimit when 0).
type HistoryQuery struct {
	Cursor string
	Limit  int
}

// Values encodes q as the route's query string.
func (q HistoryQuery) Values() url.Values {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// DeadLetter is an event that reached a dead-letter topic.
type DeadLetter struct {
	Topic      string          `json:"topic"`
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	ReceivedAt time.Time       `json:"received_at"`
	CloudEvent json.RawMessage `json:"cloudevent"`
}

// DeadLetterList is the answer of GET dead-letters, newest first.
type DeadLetterList struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// Bounds of GET dead-letters?limit=.
const (
	DefaultDeadLetterLimit = 100
	MaxDeadLetterLimit     = 1000
)

// Client calls audit-service through the caller's sidecar.
type Client struct {
	Dapr  dapr.Invoker
	AppID string // AppID when empty
}

func (c Client) app() string {
	if c.AppID == "" {
		return AppID
	}
	return c.AppID
}

// History reads one page of task id's history. A refusal (an unknown
// cursor, say) is a *dapr.AppError.
func (c Client) History(ctx context.Context, id int64, q HistoryQuery) (HistoryPage, error) {
	var out HistoryPage
	_, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodGet, PathHistory(id), q.Values(), nil, &out)
	return out, err
}

// DeadLetters lists the newest dead letters, of one topic when topic is
// set, at most limit (DefaultDeadLetterLimit when 0).
func (c Client) DeadLetters(ctx context.Context, topic string, limit int) ([]DeadLetter, error) {
	q := url.Values{}
	if topic != "" {
		q.Set("topic", topic)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out DeadLetterList
	_, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodGet, PathDeadLetters, q, nil, &out)
	return out.DeadLetters, err
}

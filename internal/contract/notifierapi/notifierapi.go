// Package notifierapi is the contract of notification-service's invocation
// routes: a user's inbox, page by page, and marking a notification read.
// The user is always a query or body value, never a path segment: the
// sidecar decodes and cleans the method path, so a segment could be turned
// into another user's route.
package notifierapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
)

// AppID is notification-service's default Dapr app id.
const AppID = "notification-service"

// Method paths and the routes notification-service serves them on.
const (
	PathInbox    = "inbox"
	PathMarkRead = "inbox/read"

	RouteInbox    = "GET /" + PathInbox
	RouteMarkRead = "POST /" + PathMarkRead
)

// Page bounds of the inbox.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Notification is one inbox entry. Its id is the ReminderDue event id.
type Notification struct {
	ID         string     `json:"id"`
	TaskID     int64      `json:"task_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	ReminderAt time.Time  `json:"reminder_at"`
	// Message says how the due time stands at the reminder, in the task's
	// time zone ("due in 15 minutes", "due now", "overdue since 09:00");
	// empty for a task without a due time.
	Message   string     `json:"message"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at"`
}

// InboxPage is one page of a user's notifications, newest reminder time first; Unread
// counts the whole inbox; NextCursor is null on the last page.
type InboxPage struct {
	Notifications []Notification `json:"notifications"`
	NextCursor    *string        `json:"next_cursor"`
	Unread        int            `json:"unread"`
}

// InboxQuery selects a page of UserID's inbox: after Cursor (a NextCursor;
// "" from the start), at most Limit (DefaultLimit when 0).
type InboxQuery struct {
	UserID string
	Cursor string
	Limit  int
}

// Values encodes q as the route's query string.
func (q InboxQuery) Values() url.Values {
	v := url.Values{"user_id": {q.UserID}}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v
}

// MarkRead is the body of POST inbox/read; the answer is the Notification.
type MarkRead struct {
	UserID string `json:"user_id"`
	ID     string `json:"id"`
}

// Client calls notification-service through the caller's sidecar.
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

// Inbox reads one page of a user's inbox. A refusal (an unknown cursor,
// say) is a *dapr.AppError.
func (c Client) Inbox(ctx context.Context, q InboxQuery) (InboxPage, error) {
	var out InboxPage
	_, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodGet, PathInbox, q.Values(), nil, &out)
	return out, err
}

// MarkRead marks one of user's notifications read and returns it; an
// unknown id is a *dapr.AppError with status 404.
func (c Client) MarkRead(ctx context.Context, user, id string) (Notification, error) {
	var out Notification
	_, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodPost, PathMarkRead, nil, MarkRead{UserID: user, ID: id}, &out)
	return out, err
}

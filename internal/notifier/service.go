// Package notifier is the notification service: it delivers every
// ReminderDue once per event id, as a log line and an entry in the user's
// inbox, kept in the Dapr state store.
package notifier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// StateStore is the part of the Dapr state API the inboxes need.
type StateStore interface {
	GetState(ctx context.Context, store, key string) ([]byte, string, bool, error)
	SaveState(ctx context.Context, store, key string, value any, etag string) error
	Transact(ctx context.Context, store string, ops []dapr.StateOp) error
}

// Notification is one inbox entry. Its id is the ReminderDue event id.
type Notification struct {
	ID         string     `json:"id"`
	TaskID     int64      `json:"task_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	ReminderAt time.Time  `json:"reminder_at"`
	CreatedAt  time.Time  `json:"created_at"`
	ReadAt     *time.Time `json:"read_at"`
}

// Inbox is a user's notifications, newest first, as stored under one key.
type Inbox struct {
	Items []Notification `json:"items"`
}

// MaxInbox bounds an inbox: beyond it the oldest entries are dropped.
const MaxInbox = 500

// Handler serves the notification service's routes (all for the sidecar).
type Handler struct {
	State     StateStore
	StoreName string
	Log       *slog.Logger
	PubSub    string
	AppToken  string
	Now       func() time.Time
	Telemetry *telemetry.Metrics // optional
}

// DeadLetterTopic receives reminders that could not be handled.
const DeadLetterTopic = events.TopicReminders + "-dlq"

// Routes returns the HTTP handler.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	httpx.HandleProbes(mux, nil)
	sidecar := http.NewServeMux()
	sidecar.HandleFunc("GET /dapr/subscribe", h.subscribe)
	sidecar.HandleFunc("POST /events/reminders", h.reminder)
	// The user is a query value, never a path segment: the sidecar decodes
	// and cleans the method path, so a segment could be turned into
	// another user's route.
	sidecar.HandleFunc("GET /inbox", h.list)
	sidecar.HandleFunc("POST /inbox/read", h.markRead)
	mux.Handle("/", httpx.RequireAppToken(h.AppToken, sidecar))
	return h.Telemetry.Instrument(mux)
}

func (h *Handler) subscribe(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, []dapr.Subscription{{
		PubSubName:      h.PubSub,
		Topic:           events.TopicReminders,
		Routes:          dapr.Routes{Default: "/events/reminders"},
		DeadLetterTopic: DeadLetterTopic,
	}})
}

// inboxKey is the state key of user's inbox. Dapr refuses keys containing
// "||", so the user id is encoded.
func inboxKey(user string) string {
	return "inbox-" + base64.RawURLEncoding.EncodeToString([]byte(user))
}

// deliveredKey is the state key of the marker that event id was delivered.
// The markers, not the bounded inbox, are what deduplication rests on.
func deliveredKey(id string) string {
	return "delivered-" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DeliveredTTL is how long a delivery marker is kept: far longer than the
// broker keeps an event (Redpanda's default retention is 7 days), so no
// redelivery or replay of a ReminderDue outlives its marker.
const DeliveredTTL = 30 * 24 * time.Hour

// update applies change to user's inbox with optimistic concurrency (the
// state store's ETag), retrying when another writer got there first.
func (h *Handler) update(ctx context.Context, user string, change func(*Inbox) (bool, error)) error {
	for attempt := 0; ; attempt++ {
		raw, etag, found, err := h.State.GetState(ctx, h.StoreName, inboxKey(user))
		if err != nil {
			return err
		}
		var inbox Inbox
		if found {
			if err := json.Unmarshal(raw, &inbox); err != nil {
				return fmt.Errorf("inbox of %s is corrupt: %w", user, err)
			}
		}
		write, err := change(&inbox)
		if err != nil || !write {
			return err
		}
		err = h.State.SaveState(ctx, h.StoreName, inboxKey(user), inbox, etag)
		if err == nil {
			return nil
		}
		if !errors.Is(err, dapr.ErrStateConflict) || attempt >= 10 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}

func (h *Handler) reminder(w http.ResponseWriter, r *http.Request) {
	body, err := dapr.ReadEvent(w, r)
	if err != nil {
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	ce, e, err := events.DecodeReminderEvent(body)
	if errors.Is(err, events.ErrUnknownEventType) {
		// A type a newer producer added: not ours to handle, nor to
		// dead-letter.
		h.Log.Info("notifier: event of an unknown type, acknowledged", "event_id", ce.ID(), "event_type", e.EventType)
		h.Telemetry.Event(events.TopicReminders, "unknown", "ignored")
		dapr.WriteStatus(w, dapr.Success)
		return
	}
	if err != nil {
		h.Log.Warn("notifier: malformed reminder, dropping to dead-letter topic", "event_id", ce.ID(), "err", err)
		h.Telemetry.Event(events.TopicReminders, "malformed", "dropped")
		dapr.WriteStatus(w, dapr.Drop)
		return
	}
	n := Notification{ID: ce.ID(), TaskID: e.TaskID, Title: e.Title, DueAt: e.DueAt, ReminderAt: e.ReminderAt,
		CreatedAt: h.Now().UTC()}
	duplicate, err := h.deliver(r.Context(), e.UserID, n)
	if err != nil {
		h.Log.Error("notifier: cannot store notification, asking for redelivery", "event_id", ce.ID(), "err", err)
		h.Telemetry.Event(events.TopicReminders, events.ReminderDue, "retry")
		dapr.WriteStatus(w, dapr.Retry)
		return
	}
	h.Log.Info("notification delivered", "event_id", ce.ID(), "user_id", e.UserID, "task_id", e.TaskID,
		"title", e.Title, "due_at", e.DueAt, "reminder_at", e.ReminderAt, "duplicate", duplicate,
		"trace_id", httpx.TraceID(r))
	outcome := "delivered"
	if duplicate {
		outcome = "duplicate"
	}
	h.Telemetry.Event(events.TopicReminders, events.ReminderDue, outcome)
	dapr.WriteStatus(w, dapr.Success)
}

// deliver adds n to user's inbox and records its delivery marker in one
// state transaction, once per id: duplicate is true when the marker (or,
// for entries older than the markers, the inbox) already had it.
func (h *Handler) deliver(ctx context.Context, user string, n Notification) (duplicate bool, err error) {
	for attempt := 0; ; attempt++ {
		raw, etag, found, err := h.State.GetState(ctx, h.StoreName, inboxKey(user))
		if err != nil {
			return false, err
		}
		var inbox Inbox
		if found {
			if err := json.Unmarshal(raw, &inbox); err != nil {
				return false, fmt.Errorf("inbox of %s is corrupt: %w", user, err)
			}
		}
		if indexOf(inbox.Items, n.ID) >= 0 {
			return true, nil
		}
		inbox.Items = append([]Notification{n}, inbox.Items...)
		if len(inbox.Items) > MaxInbox {
			inbox.Items = inbox.Items[:MaxInbox]
		}
		err = h.State.Transact(ctx, h.StoreName, []dapr.StateOp{
			{Key: inboxKey(user), Value: inbox, ETag: etag},
			{Key: deliveredKey(n.ID), Value: map[string]any{"user_id": user, "at": n.CreatedAt},
				TTLSeconds: int(DeliveredTTL / time.Second)},
		})
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, dapr.ErrStateConflict) {
			return false, err
		}
		// Either the inbox changed meanwhile or the marker exists: the
		// sidecar does not say which.
		_, _, delivered, gerr := h.State.GetState(ctx, h.StoreName, deliveredKey(n.ID))
		if gerr != nil {
			return false, gerr
		}
		if delivered {
			return true, nil
		}
		if attempt >= 10 {
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}

// Page size bounds of GET /inbox.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	limit := DefaultLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("limit: must be an integer from 1 to %d", MaxLimit))
			return
		}
		limit = n
	}
	user := r.URL.Query().Get("user_id")
	if user == "" {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_query", "user_id: required")
		return
	}
	raw, _, found, err := h.State.GetState(r.Context(), h.StoreName, inboxKey(user))
	if err != nil {
		h.Log.Error("notifier: read inbox", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "inbox unavailable")
		return
	}
	var inbox Inbox
	if found {
		if err := json.Unmarshal(raw, &inbox); err != nil {
			httpx.WriteError(w, http.StatusInternalServerError, "internal", "inbox unreadable")
			return
		}
	}
	// The cursor is the id of the last notification of the previous page.
	items := inbox.Items
	if c := r.URL.Query().Get("cursor"); c != "" {
		i := indexOf(items, c)
		if i < 0 {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_cursor", "cursor: unknown or expired; start again without cursor")
			return
		}
		items = items[i+1:]
	}
	var next *string
	if len(items) > limit {
		items = items[:limit]
		id := items[limit-1].ID
		next = &id
	}
	unread := 0
	for _, n := range inbox.Items {
		if n.ReadAt == nil {
			unread++
		}
	}
	if items == nil {
		items = []Notification{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"notifications": items, "next_cursor": next, "unread": unread})
}

func indexOf(items []Notification, id string) int {
	for i, n := range items {
		if n.ID == id {
			return i
		}
	}
	return -1
}

// MarkReadRequest is the body of POST /inbox/read.
type MarkReadRequest struct {
	UserID string `json:"user_id"`
	ID     string `json:"id"`
}

func (h *Handler) markRead(w http.ResponseWriter, r *http.Request) {
	var req MarkReadRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.UserID == "" || req.ID == "" {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_body", `body: must be {"user_id": "...", "id": "..."}`)
		return
	}
	id := req.ID
	var out Notification
	found := false
	err := h.update(r.Context(), req.UserID, func(in *Inbox) (bool, error) {
		found, out = false, Notification{} // this may run more than once
		i := indexOf(in.Items, id)
		if i < 0 {
			return false, nil
		}
		found = true
		if in.Items[i].ReadAt == nil {
			now := h.Now().UTC()
			in.Items[i].ReadAt = &now
			out = in.Items[i]
			return true, nil
		}
		out = in.Items[i]
		return false, nil
	})
	switch {
	case err != nil:
		h.Log.Error("notifier: mark read", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "inbox unavailable")
	case !found:
		httpx.WriteError(w, http.StatusNotFound, "not_found", "notification not found")
	default:
		httpx.WriteJSON(w, http.StatusOK, out)
	}
}

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
	"hash/fnv"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/evolution-todo/todo/internal/contract/notifierapi"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// StateStore is the part of the Dapr state API the inboxes need.
type StateStore interface {
	GetState(ctx context.Context, store, key string) ([]byte, string, bool, error)
	SaveState(ctx context.Context, store, key string, value any, etag string) error
	Transact(ctx context.Context, store string, ops []dapr.StateOp) error
}

// Inbox is a user's notifications, newest reminder time first (then by
// id), as stored under one key.
type Inbox struct {
	Items []notifierapi.Notification `json:"items"`
}

// MaxInbox bounds an inbox: beyond it the entries that arrived first are
// dropped (not the oldest reminders: a late delivery of an old reminder
// stays, it is news to its reader).
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

	writers inboxLocks
}

// inboxLocks serialise this replica's writes of each inbox. Brokers other
// than Kafka deliver one user's reminders in parallel (RabbitMQ up to
// prefetchCount at once), and every write of an inbox is a read and an
// ETag-checked write: without the locks a burst for one user makes nearly
// every write conflict, and a delivery whose conflicts outlast
// retryConflicts goes back to the sidecar, then to the dead-letter topic.
// Writes by other replicas still conflict, and are retried. A fixed
// number of stripes, so that no user id becomes a map key.
type inboxLocks [64]sync.Mutex

// lock locks user's stripe and returns its unlock.
func (l *inboxLocks) lock(user string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(user))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}

// DeadLetterTopic receives reminders that could not be handled.
const DeadLetterTopic = events.TopicReminders + "-dlq"

// Routes returns the HTTP handler.
func (h *Handler) Routes() http.Handler {
	app := &consumer.App{
		Name: notifierapi.AppID, PubSub: h.PubSub, AppToken: h.AppToken, Log: h.Log, Telemetry: h.Telemetry,
		Subscriptions: []consumer.Subscription{{
			Topic: events.TopicReminders, Path: "/events/reminders", DeadLetterTopic: DeadLetterTopic,
			LogMessage: "notification delivered", Handle: consumer.Reminders(h.reminder),
		}},
		Routes: []consumer.Route{
			{Pattern: notifierapi.RouteInbox, Handler: h.list},
			{Pattern: notifierapi.RouteMarkRead, Handler: h.markRead},
		},
	}
	return app.Handler()
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

// errCorruptInbox is a stored inbox that does not decode.
var errCorruptInbox = errors.New("inbox is corrupt")

// inbox reads user's inbox and its ETag (empty when there is none yet).
func (h *Handler) inbox(ctx context.Context, user string) (Inbox, string, error) {
	var inbox Inbox
	raw, etag, found, err := h.State.GetState(ctx, h.StoreName, inboxKey(user))
	if err != nil || !found {
		return inbox, etag, err
	}
	if err := json.Unmarshal(raw, &inbox); err != nil {
		return inbox, etag, fmt.Errorf("%w: of %s: %w", errCorruptInbox, user, err)
	}
	return inbox, etag, nil
}

// retryConflicts runs op, which reads an inbox and writes it back with its
// ETag, again when another writer got there first (a state conflict): a
// few times within a short time. Any other error ends it at once, as does
// the end of ctx.
func retryConflicts[T any](ctx context.Context, op func() (T, error)) (T, error) {
	return backoff.Retry(ctx, func() (T, error) {
		v, err := op()
		if err != nil && !errors.Is(err, dapr.ErrStateConflict) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval: 20 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 1.5, MaxInterval: 200 * time.Millisecond,
	}), backoff.WithMaxTries(10), backoff.WithMaxElapsedTime(2*time.Second))
}

func (h *Handler) reminder(ctx context.Context, d *consumer.Delivery, e events.ReminderEvent) error {
	d.Log("title", e.Title, "due_at", e.DueAt, "reminder_at", e.ReminderAt)
	n := notifierapi.Notification{ID: d.ID, TaskID: e.TaskID, Title: e.Title, DueAt: e.DueAt, ReminderAt: e.ReminderAt,
		Message: e.DueStatus(), CreatedAt: h.Now().UTC()}
	duplicate, err := h.deliver(ctx, e.UserID, n)
	if err != nil {
		return fmt.Errorf("store notification: %w", err)
	}
	d.Once(!duplicate, "delivered")
	return nil
}

// deliver adds n to user's inbox and records its delivery marker in one
// state transaction, once per id: duplicate is true when the marker (or,
// for entries older than the markers, the inbox) already had it.
func (h *Handler) deliver(ctx context.Context, user string, n notifierapi.Notification) (duplicate bool, err error) {
	defer h.writers.lock(user)()
	return retryConflicts(ctx, func() (bool, error) {
		inbox, etag, err := h.inbox(ctx, user)
		if err != nil {
			return false, err
		}
		if indexOf(inbox.Items, n.ID) >= 0 {
			return true, nil
		}
		inbox.Items = insertByReminder(inbox.Items, n)
		for len(inbox.Items) > MaxInbox {
			i := firstArrived(inbox.Items)
			inbox.Items = slices.Delete(inbox.Items, i, i+1)
		}
		err = h.State.Transact(ctx, h.StoreName, []dapr.StateOp{
			{Key: inboxKey(user), Value: inbox, ETag: etag},
			{Key: deliveredKey(n.ID), Value: map[string]any{"user_id": user, "at": n.CreatedAt},
				TTLSeconds: int(DeliveredTTL / time.Second)},
		})
		if !errors.Is(err, dapr.ErrStateConflict) {
			return false, err
		}
		// Either the inbox changed meanwhile or the marker exists: the
		// sidecar does not say which.
		_, _, delivered, gerr := h.State.GetState(ctx, h.StoreName, deliveredKey(n.ID))
		if gerr != nil || delivered {
			return delivered, gerr
		}
		return false, err
	})
}

// firstArrived is the index of the entry that arrived first (the last of
// them, at equal times: the oldest reminder).
func firstArrived(items []notifierapi.Notification) int {
	first := 0
	for i, it := range items {
		if !it.CreatedAt.After(items[first].CreatedAt) {
			first = i
		}
	}
	return first
}

// insertByReminder puts n into items, which are newest first by reminder
// time (then by id), at its place: the inbox's order is the reminders', not
// the order the broker delivered them in (which only Kafka keeps, and only
// per partition).
func insertByReminder(items []notifierapi.Notification, n notifierapi.Notification) []notifierapi.Notification {
	i := slices.IndexFunc(items, func(old notifierapi.Notification) bool {
		if c := n.ReminderAt.Compare(old.ReminderAt); c != 0 {
			return c > 0
		}
		return n.ID > old.ID
	})
	if i < 0 {
		i = len(items)
	}
	return slices.Insert(items, i, n)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	limit := notifierapi.DefaultLimit
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > notifierapi.MaxLimit {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_query",
				fmt.Sprintf("limit: must be an integer from 1 to %d", notifierapi.MaxLimit))
			return
		}
		limit = n
	}
	user := r.URL.Query().Get("user_id")
	if user == "" {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_query", "user_id: required")
		return
	}
	inbox, _, err := h.inbox(r.Context(), user)
	switch {
	case errors.Is(err, errCorruptInbox):
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "inbox unreadable")
		return
	case err != nil:
		h.Log.Error("notifier: read inbox", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "inbox unavailable")
		return
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
	page := notifierapi.InboxPage{Notifications: items}
	if len(items) > limit {
		page.Notifications = items[:limit]
		page.NextCursor = &items[limit-1].ID
	}
	for _, n := range inbox.Items {
		if n.ReadAt == nil {
			page.Unread++
		}
	}
	if page.Notifications == nil {
		page.Notifications = []notifierapi.Notification{}
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

func indexOf(items []notifierapi.Notification, id string) int {
	for i, n := range items {
		if n.ID == id {
			return i
		}
	}
	return -1
}

func (h *Handler) markRead(w http.ResponseWriter, r *http.Request) {
	var req notifierapi.MarkRead
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.UserID == "" || req.ID == "" {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_body", `body: must be {"user_id": "...", "id": "..."}`)
		return
	}
	ctx := r.Context()
	// Each attempt reads the inbox afresh: the notification may have been
	// evicted meanwhile.
	unlock := h.writers.lock(req.UserID)
	n, err := retryConflicts(ctx, func() (*notifierapi.Notification, error) {
		inbox, etag, err := h.inbox(ctx, req.UserID)
		if err != nil {
			return nil, err
		}
		i := indexOf(inbox.Items, req.ID)
		if i < 0 {
			return nil, nil
		}
		n := &inbox.Items[i]
		if n.ReadAt != nil {
			return n, nil // read already: the first read time stays
		}
		now := h.Now().UTC()
		n.ReadAt = &now
		return n, h.State.SaveState(ctx, h.StoreName, inboxKey(req.UserID), inbox, etag)
	})
	unlock()
	switch {
	case err != nil:
		h.Log.Error("notifier: mark read", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "inbox unavailable")
	case n == nil:
		httpx.WriteError(w, http.StatusNotFound, "not_found", "notification not found")
	default:
		httpx.WriteJSON(w, http.StatusOK, n)
	}
}

// New builds notification-service's handler over its sidecar's state store.
func New(_ context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (service.Handlers, func(), error) {
	h := &Handler{State: cfg.Dapr(), StoreName: cfg.StateStore, Log: log, PubSub: cfg.PubSub,
		AppToken: cfg.AppAPIToken, Now: time.Now, Telemetry: m}
	return service.Handlers{App: h.Routes()}, nil, nil
}

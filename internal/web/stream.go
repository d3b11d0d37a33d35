package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
)

// message is one Server-Sent Event.
type message struct {
	event string
	data  []byte
}

// streamBuffer is how many events a stream may lag behind before it is
// cut; the browser reconnects and re-syncs from the API.
const streamBuffer = 64

// streamBatchBytes bounds one write of queued events to a stream.
const streamBatchBytes = 64 << 10

// stream is one open connection of a user.
type stream struct {
	user    string
	client  string // clientKey of the address it came from
	session string // the session id's hash: sign-out closes its streams
	ch      chan message
	gone    chan struct{} // closed when the hub drops the stream
	once    sync.Once
}

func (s *stream) drop() { s.once.Do(func() { close(s.gone) }) }

// hub holds the open streams of this replica, by user, and forwards each
// event to the streams of its user only. Streams are bounded per user, per
// client address and in all, so that neither one person nor one address,
// whatever identities it signs in with, can take the slots of others.
type hub struct {
	mu        sync.Mutex
	users     map[string]map[*stream]struct{}
	clients   map[string]int // open streams by client address
	total     int
	perUser   int
	perClient int
	max       int
}

func newHub(perUser, perClient, maxStreams int) *hub {
	return &hub{users: map[string]map[*stream]struct{}{}, clients: map[string]int{},
		perUser: perUser, perClient: perClient, max: maxStreams}
}

var (
	errUserStreams   = errors.New("too many open streams for this user")
	errClientStreams = errors.New("too many open streams from this address")
	errAllStreams    = errors.New("too many open streams")
)

// open adds a stream for user from client, within the bounds.
func (h *hub) open(user, client, session string) (*stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients[client] >= h.perClient {
		return nil, errClientStreams
	}
	set := h.users[user]
	if len(set) >= h.perUser {
		return nil, errUserStreams
	}
	if h.total >= h.max {
		return nil, errAllStreams
	}
	if set == nil {
		set = map[*stream]struct{}{}
		h.users[user] = set
	}
	s := &stream{user: user, client: client, session: session, ch: make(chan message, streamBuffer), gone: make(chan struct{})}
	set[s] = struct{}{}
	h.clients[client]++
	h.total++
	return s, nil
}

// close removes s.
func (h *hub) close(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.users[s.user]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.users, s.user)
	}
	if h.clients[s.client]--; h.clients[s.client] <= 0 {
		delete(h.clients, s.client)
	}
	h.total--
	s.drop()
}

// publish hands m to every stream of user without waiting: a stream whose
// buffer is full is dropped, so one slow browser never holds up the
// others or the sidecar's delivery.
func (h *hub) publish(user string, m message) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := range h.users[user] {
		select {
		case s.ch <- m:
			n++
		default:
			s.drop()
		}
	}
	return n
}

// endSession drops the streams of a session that signed out.
func (h *hub) endSession(session string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range h.users {
		for s := range set {
			if s.session == session {
				s.drop()
			}
		}
	}
}

// count is the number of open streams.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// serveStream is GET /stream: the signed-in user's events as
// Server-Sent Events, until the browser goes, the session ends or cannot
// be confirmed for the grace period, or the app stops.
func (a *App) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// "GET /stream" also matches HEAD, whose body net/http drops
		// silently: the stream would never end, and would hold its
		// connection and its slot.
		w.Header().Set("Allow", http.MethodGet)
		httpx.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the stream is GET only")
		return
	}
	client := clientKey(r, a.set.proxies)
	if !a.limit(w, a.streamOpens, client, "stream opens") {
		return
	}
	sess, sid, ok := a.requireSession(w, r)
	if !ok {
		return
	}
	s, err := a.hub.open(sess.User, client, hashKey("", sid))
	if err != nil {
		status := http.StatusTooManyRequests
		if errors.Is(err, errAllStreams) {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Retry-After", "10")
		httpx.WriteError(w, status, "too_many_streams", err.Error()+": close a tab and retry")
		return
	}
	defer a.hub.close(s)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	hello, _ := json.Marshal(map[string]string{"user": sess.User})
	if !a.send(rc, w, fmt.Appendf(nil, "retry: 2000\n\nevent: hello\ndata: %s\n\n", hello)) {
		return
	}
	beat := time.NewTicker(a.cfg.Heartbeat)
	defer beat.Stop()
	confirm := newConfirmer(a.cfg.StreamRecheck, a.cfg.StreamGrace, a.now())
	recheck := time.NewTimer(confirm.next)
	defer recheck.Stop()
	expires := time.NewTimer(time.Until(sess.Expires))
	defer expires.Stop()
	for {
		select {
		case m := <-s.ch:
			// The events queued behind it go in the same write: one flush
			// for a burst, not one each, so a busy user's stream keeps up.
			b := fmt.Appendf(nil, "event: %s\ndata: %s\n\n", m.event, m.data)
			for more := true; more && len(b) < streamBatchBytes; {
				select {
				case m := <-s.ch:
					b = fmt.Appendf(b, "event: %s\ndata: %s\n\n", m.event, m.data)
				default:
					more = false
				}
			}
			if !a.send(rc, w, b) {
				return
			}
		case <-beat.C:
			if !a.send(rc, w, []byte(": ping\n\n")) {
				return
			}
		case <-recheck.C:
			_, _, err := a.sessions.load(r.Context(), sid)
			if !confirm.result(err, a.now()) {
				if !errors.Is(err, errNoSession) {
					a.log.WarnContext(r.Context(), "stream closed: its session could not be confirmed", "grace", a.cfg.StreamGrace, "err", err)
				}
				return
			}
			recheck.Reset(confirm.next)
		case <-expires.C:
			return
		case <-s.gone:
			return
		case <-r.Context().Done():
			return
		case <-a.stop:
			return
		}
	}
}

// confirmer decides, from the outcome of each check of a stream's session,
// whether the stream goes on and when the next check is: every recheck
// while the session is confirmed; after a failed read of the store, sooner
// if needed, so that a stream ends at most grace after its last
// confirmation (fail closed). A session that is gone ends it at once.
type confirmer struct {
	recheck, grace time.Duration
	confirmed      time.Time
	next           time.Duration
}

func newConfirmer(recheck, grace time.Duration, now time.Time) *confirmer {
	return &confirmer{recheck: recheck, grace: grace, confirmed: now, next: recheck}
}

// result records a check's outcome at now and says whether the stream
// may go on.
func (c *confirmer) result(err error, now time.Time) bool {
	switch {
	case err == nil:
		c.confirmed, c.next = now, c.recheck
		return true
	case errors.Is(err, errNoSession):
		return false
	}
	left := c.grace - now.Sub(c.confirmed)
	if left <= 0 {
		return false
	}
	c.next = min(c.recheck, left)
	return true
}

// streamWriteTimeout bounds one write to a stream: a browser that stops
// reading is cut.
const streamWriteTimeout = 10 * time.Second

// send writes and flushes b, with its own write deadline (the server's
// WriteTimeout would cut every stream after a minute).
func (a *App) send(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// reminderPush is the data of a "reminder" stream event. ID is the
// CloudEvent id, which notification-service uses as the notification's id.
type reminderPush struct {
	ID         string     `json:"id"`
	TaskID     int64      `json:"task_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"`
	ReminderAt time.Time  `json:"reminder_at"`
	Message    string     `json:"message"` // how the due time stands: "due in 15 minutes"
}

// staleAfter is how long before this replica's start an event may have
// happened and still be pushed: anything older is a replay.
const staleAfter = time.Minute

// stale says whether d happened well before this replica started: a new
// consumer group's replay (Redis Streams starts a new group at the oldest
// entry), which would pop old reminders up again. A page re-syncs from the
// API whenever its stream opens, so it needs none of them.
func (a *App) stale(d *consumer.Delivery) bool {
	at := d.CloudEvent.Time()
	if at.IsZero() || !at.Before(a.started.Add(-staleAfter)) {
		return false
	}
	d.Outcome("stale")
	return true
}

// subscriptions are the live stream's sources: task-events and reminders,
// through the sidecar, on the live pub/sub component whose consumer group
// is this replica's own, so that every replica gets every event. There is
// no dead-letter topic: a push that cannot be made is healed by the page's
// re-sync, and these handlers fail only on undecodable events.
func (a *App) subscriptions() []consumer.Subscription {
	return []consumer.Subscription{
		{Topic: events.TopicTaskEvents, Path: "/events/task-events", NoDeadLetter: true, LogMessage: "live task event",
			Handle: consumer.TaskEvents(func(_ context.Context, d *consumer.Delivery, e events.TaskEvent) error {
				if a.stale(d) {
					return nil
				}
				data, err := json.Marshal(e)
				if err != nil {
					return consumer.Permanent(err)
				}
				d.Log("streams", a.hub.publish(e.UserID, message{event: "task", data: data}))
				return nil
			})},
		{Topic: events.TopicReminders, Path: "/events/reminders", NoDeadLetter: true, LogMessage: "live reminder",
			Handle: consumer.Reminders(func(_ context.Context, d *consumer.Delivery, e events.ReminderEvent) error {
				if a.stale(d) {
					return nil
				}
				data, err := json.Marshal(reminderPush{ID: d.ID, TaskID: e.TaskID, Title: e.Title, DueAt: e.DueAt,
					ReminderAt: e.ReminderAt, Message: e.DueStatus()})
				if err != nil {
					return consumer.Permanent(err)
				}
				d.Log("streams", a.hub.publish(e.UserID, message{event: "reminder", data: data}))
				return nil
			})},
	}
}

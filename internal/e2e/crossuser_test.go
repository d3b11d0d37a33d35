package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/auth"
)

// as returns the environment acting as user: the same system, another
// bearer token.
func (e *env) as(user string) *env {
	e.t.Helper()
	tok, err := auth.Mint(auth.Config{Secret: []byte(jwtSecret)}, user, time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	other := *e
	other.token = tok
	other.client = other.clientAt(e.sys.APIURL())
	return &other
}

// rawAnswer is what the API answered to a request sent byte for byte.
type rawAnswer struct {
	Status   int
	Body     string
	Location string
}

// raw sends method and target exactly as given (no client-side
// normalisation or escaping) to todo-api with e's token. ServeMux answers a
// path with dot segments with a redirect to its clean form; raw follows it
// once, as a client would, so that what counts is where the request lands.
func (e *env) raw(method, target string) rawAnswer {
	e.t.Helper()
	a := e.rawOnce(method, target)
	switch a.Status {
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if a.Location != "" {
			return e.rawOnce(method, a.Location)
		}
	}
	return a
}

func (e *env) rawOnce(method, target string) rawAnswer {
	e.t.Helper()
	u, err := url.Parse(e.sys.APIURL())
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		method, target, u.Host, e.token)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawAnswer{Status: resp.StatusCode, Body: string(b), Location: resp.Header.Get("Location")}
}

// No request of one user reads or changes anything of another's through
// the routes that reach another app (history, inbox, mark read), whatever
// the encoding of the path and query: each answers 4xx with a JSON error,
// leaks nothing, and the other user's inbox and history are unchanged.
// Through the real todo-api, its real sidecar and the real callee apps:
// daprd decodes and cleans invocation paths, which is what the attacks aim
// at.
func TestNoUserReachesAnotherUsersDataThroughInvocation(t *testing.T) {
	e := startSystem(t)
	alice, bob := e, e.as("bob")

	// Bob's data: a task with a sent reminder, and a history.
	past := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	secret := bob.create(client.NewTask{Title: "bob's secret", DueAt: at("2030-01-01T15:00:00Z"), ReminderAt: &past})
	bob.update(secret.ID, client.TaskPatch{Description: client.Set("still secret")})
	eventually(t, 60*time.Second, "bob's reminder reaches his inbox", func() bool { return len(bob.inboxState().Notifications) == 1 })
	eventually(t, 30*time.Second, "bob's history has both events", func() bool { return len(bob.history(secret.ID)) == 2 })
	bobInbox, bobHistory := bob.inboxState(), bob.history(secret.ID)
	n := bobInbox.Notifications[0]
	if n.ReadAt != nil || bobInbox.Unread != 1 {
		t.Fatalf("setup: bob's notification %+v, unread %d", n, bobInbox.Unread)
	}
	// Alice has a task of her own, so that paths can start from an id that
	// is hers.
	own := alice.create(client.NewTask{Title: "alice's"})

	id, tid, mine := n.ID, secret.ID, own.ID
	upper := strings.ToUpper(id)
	long := id + strings.Repeat("a", 4000)
	// Each id is put where the route's path value goes.
	notificationIDs := []string{
		id, // the id itself, guessed: another user's notification is not found
		upper,
		"..%2Fbob%2F" + id,
		"..%2fbob%2f" + id,
		"%2E%2E%2Fbob%2F" + id,
		"%2e%2e%2fbob%2f" + id,
		"%252E%252E%252Fbob%252F" + id, // double encoding
		"..%252Fbob%252F" + id,
		"..%5Cbob%5C" + id, // backslashes
		`..\bob\` + id,
		"..%5C..%5Cinbox%5Cbob%5C" + id,
		id + ";user_id=bob",
		id + "%3Buser_id=bob",
		"..;%2Fbob%2F" + id,
		id + "%3Fuser_id=bob",
		id + "%3Fuser_id%3Dbob%26x=",
		"%3Fuser_id=bob&id=" + id,
		id + "%23",
		id + "%00",
		"%00" + id,
		long,
		id + "0",
		"x",
		"%2F",
		"..",
		"%2E%2E",
		".%2E%2F..%2Fbob%2F" + id,
	}
	for _, nid := range notificationIDs {
		for _, target := range []string{"/api/notifications/" + nid + "/read", "/api/notifications/" + nid + "/read?user_id=bob"} {
			checkRefused(t, alice.raw("POST", target), "POST "+target, "bob's secret")
		}
	}
	// Paths whose raw slashes reach no route at all (404) or another route.
	for _, target := range []string{
		"/api/notifications/../notifications/" + id + "/read",
		"/api/notifications/%2E%2E/bob/" + id + "/read",
		"/api/notifications/" + id + "/read/..",
		"/api/notifications/bob/" + id + "/read",
	} {
		checkRefused(t, alice.raw("POST", target), "POST "+target, "bob's secret")
	}
	// The inbox list: the user is the token's, never a parameter.
	for _, q := range []string{
		"user_id=bob", "limit=100&user_id=bob", "user=bob", "cursor=" + id, "cursor=" + upper,
		"cursor=..%2Fbob", "cursor=..%2F..%2Finbox%3Fuser_id%3Dbob", "limit=1%26user_id%3Dbob", "limit=%zz",
		"limit=1&limit=2", "cursor=" + url.QueryEscape(long), "limit=%00", "cursor=%C3%28",
	} {
		checkRefused(t, alice.raw("GET", "/api/notifications?"+q), "GET /api/notifications?"+q, "bob's secret")
	}
	// History: bob's task id, in every spelling, from alice.
	taskIDs := []string{
		fmt.Sprint(tid),
		fmt.Sprintf("%d%%2F..%%2F%d", mine, tid),
		fmt.Sprintf("%d%%2F..%%2F..%%2Ftasks%%2F%d", mine, tid),
		fmt.Sprintf("..%%2Ftasks%%2F%d", tid),
		fmt.Sprintf("%%2E%%2E%%2Ftasks%%2F%d", tid),
		fmt.Sprintf("%d%%252F..%%252F%d", mine, tid),
		fmt.Sprintf("%d%%5C..%%5C%d", mine, tid),
		fmt.Sprintf("%d;%d", mine, tid),
		fmt.Sprintf("%d%%3B%d", mine, tid),
		fmt.Sprintf("%d%%3Fid=%d", mine, tid),
		fmt.Sprintf("%d%%00", tid),
		fmt.Sprintf("+%d", tid),
		fmt.Sprintf("0%d", tid),
		fmt.Sprintf("%d.0", tid),
		fmt.Sprintf("%d%s", tid, strings.Repeat("0", 4000)),
	}
	for _, tk := range taskIDs {
		checkRefused(t, alice.raw("GET", "/api/tasks/"+tk+"/history"), "GET history of "+tk, "bob's secret")
	}
	for _, q := range []string{
		"cursor=..%2F..%2Ftasks%2F" + fmt.Sprint(tid) + "%2Fhistory", "cursor=%2F", "limit=0", "limit=1001",
		"cursor=a%3Fx", "limit=1&limit=2", "task_id=" + fmt.Sprint(tid), "limit=%zz",
		"cursor=OTk5OTk5OTk5OXwyMDI2LTAxLTAxVDAwOjAwOjAwWnx4", // "9999999999|...": well-formed, out of range
		"cursor=LTF8MjAyNi0wMS0wMVQwMDowMDowMFp8eA",           // "-1|..."
	} {
		target := fmt.Sprintf("/api/tasks/%d/history?%s", mine, q)
		checkRefused(t, alice.raw("GET", target), "GET "+target, "bob's secret")
	}

	// Nothing of bob's changed.
	after := bob.inboxState()
	if after.Unread != 1 || len(after.Notifications) != 1 || after.Notifications[0].ReadAt != nil {
		t.Errorf("bob's inbox changed: %+v", after)
	}
	if h := bob.history(secret.ID); len(h) != len(bobHistory) {
		t.Errorf("bob's history has %d events, was %d", len(h), len(bobHistory))
	}
	if still := bob.get(secret.ID); still.Title != "bob's secret" {
		t.Errorf("bob's task = %+v", still)
	}
	// And alice's view holds none of bob's.
	if in := alice.inboxState(); len(in.Notifications) != 0 {
		t.Errorf("alice's inbox shows %+v", in.Notifications)
	}

	// The control: the same routes work for their owner, so the refusals
	// above are not a broken route.
	if a := bob.raw("POST", "/api/notifications/"+id+"/read"); a.Status != http.StatusOK || !strings.Contains(a.Body, "bob's secret") {
		t.Errorf("bob marking his own notification read: %d %s", a.Status, a.Body)
	}
	if in := bob.inboxState(); in.Unread != 0 {
		t.Errorf("bob's unread after reading = %d, want 0", in.Unread)
	}
}

// checkRefused fails unless a is a 4xx with the API's JSON error body and
// does not contain secret.
func checkRefused(t *testing.T, a rawAnswer, what, secret string) {
	t.Helper()
	if strings.Contains(a.Body, secret) {
		t.Errorf("%s: the answer leaks %q: %.300s", what, secret, a.Body)
	}
	if a.Status < 400 || a.Status > 499 {
		t.Errorf("%s: status %d, want 4xx: %.300s", what, a.Status, a.Body)
		return
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.Body), &body); err != nil || body.Error.Code == "" {
		t.Errorf("%s: %d with a body that is not the API's JSON error: %.300s", what, a.Status, a.Body)
	}
}

// A ReminderDue replayed after its inbox entry was evicted by MaxInbox newer
// ones is still delivered only once: deduplication rests on delivery
// markers in the state store (written in one transaction with the inbox
// through the real sidecar and state.postgresql), not on the bounded inbox.
func TestReplayedReminderAfterEvictionIsNotNew(t *testing.T) {
	e := startSystem(t, "notification-service", "reminder-service", "todo-api")
	ce := func(id string, task int) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"reminder-service","type":"todo.ReminderDue.v1",`+
			`"datacontenttype":"application/json","data":{"event_type":"ReminderDue","task_id":%d,"user_id":"alice",`+
			`"title":"r%d","due_at":null,"reminder_at":"2026-03-10T08:30:00Z"}}`, id, task, task)
	}
	const first = "00000000-0000-5000-8000-000000000000"
	e.publishRaw("reminders", ce(first, 1))
	eventually(t, 60*time.Second, "the first reminder is delivered", func() bool { return e.inboxState().Unread == 1 })
	const newer = 500 // notifier.MaxInbox
	for i := 1; i <= newer; i++ {
		e.publishRaw("reminders", ce(fmt.Sprintf("00000000-0000-5000-8000-%012d", i), i+1))
	}
	eventually(t, 3*time.Minute, "the newer reminders evict the first", func() bool {
		return len(e.logLines("notification-service", "notification delivered")) >= newer+1
	})
	before := e.inboxState()
	for _, n := range before.Notifications {
		if n.ID == first {
			t.Fatal("setup: the first reminder is still in the inbox")
		}
	}
	e.publishRaw("reminders", ce(first, 1))
	eventually(t, 60*time.Second, "the replay is handled", func() bool {
		for _, rec := range e.logLines("notification-service", "notification delivered") {
			if rec["event_id"] == first && rec["duplicate"] == true {
				return true
			}
		}
		return false
	})
	if after := e.inboxState(); after.Unread != before.Unread || after.Notifications[0].ID != before.Notifications[0].ID {
		t.Errorf("the replay changed the inbox: unread %d -> %d, newest %s -> %s",
			before.Unread, after.Unread, before.Notifications[0].ID, after.Notifications[0].ID)
	}
}

// A history longer than a page is served whole through todo-api, its
// sidecar and audit-service: page by page in version order, the newest
// events (TaskDeleted last) included.
func TestLongHistoryIsServedWholeInPages(t *testing.T) {
	e := startSystem(t, "todo-api", "audit-service")
	tk := e.create(client.NewTask{Title: "v1"})
	const updates = 130
	for i := 2; i <= updates+1; i++ {
		e.update(tk.ID, client.TaskPatch{Title: client.Set(fmt.Sprintf("v%d", i))})
		time.Sleep(60 * time.Millisecond) // under the per-user write limit
	}
	e.del(tk.ID)
	const total = updates + 2
	page := func(cursor string) ([]client.HistoryEntry, *string) {
		h, err := e.client.History(t.Context(), tk.ID, client.PageQuery{Limit: 50, Cursor: cursor})
		e.ok("history page", err)
		if h.TaskID != tk.ID {
			t.Fatalf("a history page of task %d, want %d", h.TaskID, tk.ID)
		}
		return h.Events, h.NextCursor
	}
	var all []client.HistoryEntry
	eventually(t, 60*time.Second, "every event is audited", func() bool {
		all = all[:0]
		cursor := ""
		for {
			evs, next := page(cursor)
			if len(evs) > 50 {
				t.Fatalf("a page of %d events with limit=50", len(evs))
			}
			all = append(all, evs...)
			if next == nil {
				return len(all) == total
			}
			cursor = *next
		}
	})
	for i, ev := range all {
		if ev.Version != i+1 {
			t.Fatalf("event %d has version %d, want %d", i, ev.Version, i+1)
		}
	}
	if all[0].EventType != "TaskCreated" || all[total-1].EventType != "TaskDeleted" {
		t.Errorf("first %s, last %s; want TaskCreated ... TaskDeleted", all[0].EventType, all[total-1].EventType)
	}
	// A cursor that todo-api or audit-service did not make is a 400.
	_, err := e.client.History(t.Context(), tk.ID, client.PageQuery{Cursor: "bm90LW91cnM"})
	e.refused("history with a cursor audit-service did not make", err, http.StatusBadRequest)
}

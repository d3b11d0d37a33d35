package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
)

// webSession is a browser's session with one web-app replica, over plain
// HTTP: its cookies, its calls of the public API through web-app, and its
// live streams.
type webSession struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newWebSession(t *testing.T, base string) *webSession {
	jar, _ := cookiejar.New(nil)
	return &webSession{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// at is the same browser (the same cookies) talking to another replica.
func (w *webSession) at(base string) *webSession {
	u, _ := url.Parse(w.base)
	v, _ := url.Parse(base)
	other := newWebSession(w.t, base)
	other.hc.Jar.SetCookies(v, w.hc.Jar.Cookies(u))
	return other
}

func (w *webSession) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, c := range w.hc.Jar.Cookies(r.URL) {
		r.AddCookie(c)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// api is the public API through this replica, with the session's cookie,
// checked against openapi.yaml like every e2e call. The description asks
// for a bearer token, which the client sends and RoundTrip takes off: the
// cookie is what web-app goes by.
func (w *webSession) api() *client.Client {
	return client.New(w.base, "not-a-token", client.WithTransport(openAPI.Transport(w)))
}

func (w *webSession) signIn(user string) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.base+"/auth/dev", strings.NewReader(`{"user":`+strconv.Quote(user)+`}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		w.t.Fatalf("sign in %s at %s: %d", user, w.base, resp.StatusCode)
	}
}

type streamEvent struct {
	Event, Data string
	At          time.Time
}

// stream opens GET /stream and returns its events, hello first.
func (w *webSession) stream() <-chan streamEvent {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/stream", nil)
	hc := &http.Client{Jar: w.hc.Jar} // no timeout: the stream stays open
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		w.t.Fatalf("GET /stream: %d %s", resp.StatusCode, b)
	}
	w.t.Cleanup(func() { cancel(); resp.Body.Close() })
	ch := make(chan streamEvent, 1000)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev streamEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && ev.Event != "":
				ev.At = time.Now()
				ch <- ev
				ev = streamEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

// waitEvent returns the first event of kind on ch whose data satisfies
// match, failing after timeout.
func waitEvent(t *testing.T, ch <-chan streamEvent, kind string, timeout time.Duration, match func(string) bool) streamEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream closed while waiting for %s", kind)
			}
			if ev.Event == kind && match(ev.Data) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %s", kind, timeout)
		}
	}
}

// Two replicas of web-app each get every event through their own
// consumer group, and push each user's events to that user's streams only,
// whichever replica holds them.
func TestWebAppReplicasEachPushEveryUsersEvents(t *testing.T) {
	e := startSystem(t)
	app, _ := devstack.AppByID("web-app")
	second, err := e.sys.StartInstance(t.Context(), app, "web-app#2")
	if err != nil {
		t.Fatalf("second web-app replica: %v", err)
	}
	first := e.sys.Instances["web-app"]

	alice := newWebSession(t, first.URL())
	alice.signIn("alice")
	alice2 := alice.at(second.URL()) // the same browser's session, served by the other replica
	bob := newWebSession(t, second.URL())
	bob.signIn("bob")

	streams := map[string]<-chan streamEvent{
		"alice@1": alice.stream(), "alice@2": alice2.stream(), "bob@2": bob.stream(),
	}
	for name, ch := range streams {
		waitEvent(t, ch, "hello", 10*time.Second, func(string) bool { return true })
		_ = name
	}

	// A change made through replica 2 reaches alice's streams on both.
	created, err := alice2.api().CreateTask(t.Context(), client.NewTask{Title: "live on every replica"})
	e.ok("create through web-app", err)
	taskID := `"task_id":` + strconv.FormatInt(created.ID, 10) + `,`
	for _, name := range []string{"alice@1", "alice@2"} {
		waitEvent(t, streams[name], "task", 30*time.Second, func(d string) bool {
			return strings.Contains(d, taskID) && strings.Contains(d, `"event_type":"TaskCreated"`)
		})
	}

	// A reminder reaches both, with the id the inbox lists.
	at := time.Now().Add(2 * time.Second).UTC()
	reminded, err := alice.api().CreateTask(t.Context(), client.NewTask{Title: "remind me live", ReminderAt: &at})
	e.ok("create a reminder", err)
	var pushed []string
	for _, name := range []string{"alice@1", "alice@2"} {
		ev := waitEvent(t, streams[name], "reminder", 60*time.Second, func(d string) bool {
			return strings.Contains(d, `"task_id":`+strconv.FormatInt(reminded.ID, 10)+`,`)
		})
		var r struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &r); err != nil || r.Title != "remind me live" || r.ID == "" {
			t.Fatalf("%s: reminder push %s", name, ev.Data)
		}
		pushed = append(pushed, r.ID)
	}
	if pushed[0] != pushed[1] {
		t.Errorf("the replicas pushed different ids %v", pushed)
	}
	eventually(t, 30*time.Second, "the pushed reminder is in the inbox under its id", func() bool {
		page, err := alice.api().Notifications(t.Context(), client.PageQuery{})
		if err != nil {
			return false
		}
		for _, n := range page.Notifications {
			if n.ID == pushed[0] {
				return true
			}
		}
		return false
	})

	// Bob, on the replica that pushed alice's events, got none of them: his
	// own change is the first event after his hello.
	_, err = bob.api().CreateTask(t.Context(), client.NewTask{Title: "bob's own"})
	e.ok("bob creates", err)
	ev := waitEvent(t, streams["bob@2"], "task", 30*time.Second, func(string) bool { return true })
	if !strings.Contains(ev.Data, `"user_id":"bob"`) || !strings.Contains(ev.Data, "bob's own") {
		t.Errorf("bob's first pushed event is not his own: %s", ev.Data)
	}
	select {
	case ev := <-streams["bob@2"]:
		if ev.Event != "task" || !strings.Contains(ev.Data, `"user_id":"bob"`) {
			t.Errorf("bob got %s %s", ev.Event, ev.Data)
		}
	default:
	}

	// Bob's session cannot read alice's task through web-app.
	if _, err := bob.api().GetTask(t.Context(), created.ID); err == nil {
		t.Errorf("bob read alice's task %d through web-app", created.ID)
	}
}

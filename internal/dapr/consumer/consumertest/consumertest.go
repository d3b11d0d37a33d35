// Package consumertest is the test suite every consumer runs with its own
// constructor, the way one conformance suite runs against every backend:
// what the sidecar gets back for an oversized body, an event whose fields
// are at the top level instead of under "data", an event without an id, a
// storage failure and a duplicate, and that no route but the probes
// answers a caller without the app token.
package consumertest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Consumer is one consumer app under test, fresh for each case.
type Consumer struct {
	// Handler is the app's whole HTTP handler (consumer.App.Handler).
	Handler http.Handler
	// AppToken is the token the handler was built with (not empty).
	AppToken string
	// Path is the route of the subscription under test, Topic its topic.
	Path, Topic string
	// Event returns a well-formed delivery (a CloudEvent as the sidecar
	// delivers it) with CloudEvent id id, whose handling has one effect.
	Event func(id string) []byte
	// Effects counts the effects so far (rows stored, notifications
	// delivered, next occurrences created).
	Effects func(t *testing.T) int
	// FailStorage makes the consumer's storage (or the app it calls) fail
	// until it is called again with false.
	FailStorage func(fail bool)
}

// Run runs the suite; newConsumer builds a fresh consumer for each case.
func Run(t *testing.T, newConsumer func(t *testing.T) Consumer) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, c Consumer)
	}{
		{"the subscription has a dead-letter topic", subscribed},
		{"a well-formed event succeeds with one effect", wellFormed},
		{"an oversized body is dropped", oversized},
		{"the spec's fields at the top level are dropped", topLevelFields},
		{"an event without an id is dropped", missingID},
		{"a body that is not JSON is dropped", notJSON},
		{"a storage failure is retried, then succeeds", storageFailure},
		{"a duplicate succeeds with no second effect", duplicate},
		{"no app token is a 401", noAppToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newConsumer(t)
			if c.AppToken == "" {
				t.Fatal("consumertest: build the consumer with an app token")
			}
			tc.run(t, c)
		})
	}
}

// Deliver posts body to path as the sidecar does and returns the status it
// was answered.
func Deliver(t *testing.T, c Consumer, body []byte) dapr.Status {
	t.Helper()
	code, raw := post(c, c.Path, body, c.AppToken)
	if code != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %s, want 200 with a status", c.Path, code, raw)
	}
	var out struct {
		Status dapr.Status `json:"status"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s answered %q: %v", c.Path, raw, err)
	}
	return out.Status
}

func post(c Consumer, path string, body []byte, token string) (int, []byte) {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", dapr.ContentTypeCloudEvent)
	if token != "" {
		req.Header.Set(httpx.AppTokenHeader, token)
	}
	rec := httptest.NewRecorder()
	c.Handler.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func expect(t *testing.T, c Consumer, body []byte, want dapr.Status, effects int) {
	t.Helper()
	if got := Deliver(t, c, body); got != want {
		t.Errorf("status %s, want %s", got, want)
	}
	if got := c.Effects(t); got != effects {
		t.Errorf("%d effects, want %d", got, effects)
	}
}

func subscribed(t *testing.T, c Consumer) {
	req := httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil)
	req.Header.Set(httpx.AppTokenHeader, c.AppToken)
	rec := httptest.NewRecorder()
	c.Handler.ServeHTTP(rec, req)
	var subs []dapr.Subscription
	if err := json.Unmarshal(rec.Body.Bytes(), &subs); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /dapr/subscribe: %d %s", rec.Code, rec.Body)
	}
	for _, s := range subs {
		if s.Topic != c.Topic {
			continue
		}
		routed := s.Routes.Default == c.Path
		for _, r := range s.Routes.Rules {
			routed = routed || r.Path == c.Path
		}
		if routed {
			if s.DeadLetterTopic == "" || s.DeadLetterTopic == c.Topic {
				t.Errorf("subscription of %s has dead-letter topic %q", c.Topic, s.DeadLetterTopic)
			}
			return
		}
	}
	t.Errorf("no subscription of %s routes to %s: %s", c.Topic, c.Path, rec.Body)
}

func wellFormed(t *testing.T, c Consumer) {
	expect(t, c, c.Event("e-1"), dapr.Success, 1)
}

func oversized(t *testing.T, c Consumer) {
	var ce map[string]any
	if err := json.Unmarshal(c.Event("e-big"), &ce); err != nil {
		t.Fatal(err)
	}
	data, _ := ce["data"].(map[string]any)
	data["title"] = strings.Repeat("x", dapr.MaxEventBytes)
	body, _ := json.Marshal(ce)
	expect(t, c, body, dapr.Drop, 0)
}

func topLevelFields(t *testing.T, c Consumer) {
	var ce map[string]any
	if err := json.Unmarshal(c.Event("e-flat"), &ce); err != nil {
		t.Fatal(err)
	}
	data, ok := ce["data"].(map[string]any)
	if !ok || len(data) == 0 {
		t.Fatalf("Event gave no data object: %v", ce)
	}
	delete(ce, "data")
	delete(ce, "datacontenttype")
	for k, v := range data {
		ce[k] = v
	}
	body, _ := json.Marshal(ce)
	expect(t, c, body, dapr.Drop, 0)
}

func missingID(t *testing.T, c Consumer) {
	var ce map[string]any
	if err := json.Unmarshal(c.Event("e-noid"), &ce); err != nil {
		t.Fatal(err)
	}
	delete(ce, "id")
	body, _ := json.Marshal(ce)
	expect(t, c, body, dapr.Drop, 0)
	ce["id"] = ""
	body, _ = json.Marshal(ce)
	expect(t, c, body, dapr.Drop, 0)
}

func notJSON(t *testing.T, c Consumer) {
	expect(t, c, []byte(`{"specversion":"1.0",`), dapr.Drop, 0)
}

func storageFailure(t *testing.T, c Consumer) {
	c.FailStorage(true)
	expect(t, c, c.Event("e-fail"), dapr.Retry, 0)
	expect(t, c, c.Event("e-fail"), dapr.Retry, 0)
	c.FailStorage(false)
	expect(t, c, c.Event("e-fail"), dapr.Success, 1)
}

func duplicate(t *testing.T, c Consumer) {
	expect(t, c, c.Event("e-dup"), dapr.Success, 1)
	expect(t, c, c.Event("e-dup"), dapr.Success, 1)
	expect(t, c, c.Event("e-other"), dapr.Success, 2)
}

func noAppToken(t *testing.T, c Consumer) {
	for _, token := range []string{"", c.AppToken + "x"} {
		if code, body := post(c, c.Path, c.Event("e-token"), token); code != http.StatusUnauthorized {
			t.Errorf("POST %s with token %q: %d %s, want 401", c.Path, token, code, body)
		}
		req := httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil)
		if token != "" {
			req.Header.Set(httpx.AppTokenHeader, token)
		}
		rec := httptest.NewRecorder()
		c.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET /dapr/subscribe with token %q: %d, want 401", token, rec.Code)
		}
	}
	if n := c.Effects(t); n != 0 {
		t.Errorf("%d effects from calls without the token", n)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		c.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, probe, nil))
		if rec.Code == http.StatusUnauthorized {
			t.Errorf("GET %s without the token: 401; probes are for the orchestrator", probe)
		}
	}
}

// EventCount reads todo_events_handled_total{topic, event_type, outcome}
// from m (0 when never counted).
func EventCount(t *testing.T, m *telemetry.Metrics, topic, eventType, outcome string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "todo_events_handled_total" {
			continue
		}
		for _, c := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range c.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["topic"] == topic && l["event_type"] == eventType && l["outcome"] == outcome {
				return c.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Subscriptions asks h for its GET /dapr/subscribe answer, as the sidecar
// does with token.
func Subscriptions(t *testing.T, h http.Handler, token string) []dapr.Subscription {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil)
	req.Header.Set(httpx.AppTokenHeader, token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var subs []dapr.Subscription
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /dapr/subscribe: %d %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &subs); err != nil {
		t.Fatalf("GET /dapr/subscribe answered %s: %v", rec.Body, err)
	}
	return subs
}

// LogLines decodes a JSON log, one record per line, keeping those whose
// message is msg (all when msg is "").
func LogLines(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if msg == "" || rec["msg"] == msg {
			lines = append(lines, rec)
		}
	}
	return lines
}

// ShuffledWithDuplicates is every body one to three times, in an order r
// picks: how a broker other than Kafka may deliver one task's events
// (unordered, at least once).
func ShuffledWithDuplicates(r *rand.Rand, bodies [][]byte) [][]byte {
	var out [][]byte
	for _, b := range bodies {
		for range 1 + r.IntN(3) {
			out = append(out, b)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

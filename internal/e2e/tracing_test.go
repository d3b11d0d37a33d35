package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
)

// roundTripper is an http.RoundTripper made of a function.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// One task change can be followed by its trace id from the API request,
// through the outbox relay and the sidecars, to every consumer's log line.
// The trace starts at the public port: a traceparent the client sends is
// not continued (anyone could pick the trace ids of our logs, or join
// their requests to another's trace); todo-api answers the trace id it
// made (X-Trace-Id), and that one is followed.
func TestTraceFollowsATaskChange(t *testing.T) {
	e := startSystem(t)
	viewer := e.startViewer("task-events")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

	// The client sends traceparent and records the trace id todo-api
	// answers with.
	var traceparent, answered string
	api := client.New(e.sys.APIURL(), e.token, client.WithTransport(roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("traceparent", traceparent)
		resp, err := openAPI.Transport(nil).RoundTrip(r)
		if err == nil {
			answered = resp.Header.Get("X-Trace-Id")
		}
		return resp, err
	})))
	traceparent = "00-" + traceID + "-00f067aa0ba902b7-01"
	tk, err := api.CreateTask(t.Context(), client.NewTask{Title: "traced", Recurrence: client.RecurrenceDaily, DueAt: at("2026-06-01T09:00:00Z")})
	e.ok("create", err)
	if len(answered) != 32 || answered == traceID {
		t.Errorf("X-Trace-Id = %q, want a trace of todo-api's own, not the caller's", answered)
	}
	first := answered
	eventually(t, 60*time.Second, "the viewer gets the event", func() bool { return len(viewer.forTask(tk.ID)) > 0 })
	d := viewer.forTask(tk.ID)[0]
	if d.Data["title"] != "traced" {
		t.Errorf("the event of task %d has title %v", tk.ID, d.Data["title"])
	}
	if tp, _ := d.Envelope["traceparent"].(string); !strings.Contains(tp, first) {
		t.Errorf("delivered CloudEvent traceparent %q does not continue trace %s", tp, first)
	}
	eventually(t, 60*time.Second, "audit logs the event with the trace id", func() bool {
		for _, rec := range e.logLines("audit-service", "audit event") {
			if rec["task_id"] == float64(tk.ID) {
				return rec["trace_id"] == first
			}
		}
		return false
	})
	// Completing it: a new request, a new trace, followed into
	// recurring-service and on into todo-api's internal route.
	const trace2 = "0af7651916cd43dd8448eb211c80319c"
	traceparent = "00-" + trace2 + "-b7ad6b7169203331-01"
	_, err = api.CompleteTask(t.Context(), tk.ID)
	e.ok("complete", err)
	second := answered
	if len(second) != 32 || second == trace2 || second == first {
		t.Errorf("X-Trace-Id of the completion = %q, want a new trace of todo-api's own", second)
	}
	eventually(t, 60*time.Second, "recurring-service logs the completion with its trace id", func() bool {
		for _, rec := range e.logLines("recurring-service", "recurring event") {
			if rec["task_id"] == float64(tk.ID) && rec["next_task_id"] != nil {
				return rec["trace_id"] == second
			}
		}
		return false
	})
	found := false
	for _, rec := range e.logLines("todo-api", "request") {
		if rec["route"] == "/internal/tasks/{id}/next-occurrence" && rec["trace_id"] == second {
			found = true
		}
		if rec["trace_id"] == traceID || rec["trace_id"] == trace2 {
			t.Errorf("todo-api logged a request under the client's trace id: %v", rec)
		}
	}
	if !found {
		t.Error("todo-api's internal next-occurrence call does not carry the trace id")
	}
}

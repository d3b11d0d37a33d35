package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One task change can be followed by its trace id from the API request,
// through the outbox relay and the sidecars, to every consumer's log line.
func TestTraceFollowsATaskChange(t *testing.T) {
	e := startSystem(t)
	viewer := e.startViewer("task-events")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	traceparent := "00-" + traceID + "-00f067aa0ba902b7-01"

	req, _ := http.NewRequest(http.MethodPost, e.sys.APIURL()+"/api/tasks",
		strings.NewReader(`{"title":"traced","recurrence":"daily","due_at":"2026-06-01T09:00:00Z"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Trace-Id"); got != traceID {
		t.Errorf("X-Trace-Id = %q, want the caller's trace id", got)
	}
	var tk struct{ ID int64 }
	eventually(t, 60*time.Second, "the viewer gets the event", func() bool {
		viewer.mu.Lock()
		defer viewer.mu.Unlock()
		for _, d := range viewer.got {
			if d.Data["title"] == "traced" {
				tk.ID = int64(d.Data["task_id"].(float64))
				return true
			}
		}
		return false
	})
	d := viewer.forTask(tk.ID)[0]
	if tp, _ := d.Envelope["traceparent"].(string); !strings.Contains(tp, traceID) {
		t.Errorf("delivered CloudEvent traceparent %q does not continue trace %s", tp, traceID)
	}
	eventually(t, 60*time.Second, "audit logs the event with the trace id", func() bool {
		for _, rec := range e.logLines("audit-service", "audit event") {
			if rec["task_id"] == float64(tk.ID) {
				return rec["trace_id"] == traceID
			}
		}
		return false
	})
	// Completing it: a new request, a new trace, followed into
	// recurring-service and on into todo-api's internal route.
	const trace2 = "0af7651916cd43dd8448eb211c80319c"
	req, _ = http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/tasks/%d/complete", e.sys.APIURL(), tk.ID), nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("traceparent", "00-"+trace2+"-b7ad6b7169203331-01")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, 60*time.Second, "recurring-service logs the completion with its trace id", func() bool {
		for _, rec := range e.logLines("recurring-service", "recurring: next occurrence") {
			if rec["task_id"] == float64(tk.ID) {
				return rec["trace_id"] == trace2
			}
		}
		return false
	})
	found := false
	for _, rec := range e.logLines("todo-api", "request") {
		if rec["route"] == "/internal/tasks/{id}/next-occurrence" && rec["trace_id"] == trace2 {
			found = true
		}
	}
	if !found {
		t.Error("todo-api's internal next-occurrence call does not carry the trace id")
	}
}

package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestInstrumentLabelsByPattern(t *testing.T) {
	m := NewMetrics("test-service")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tasks/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := m.Instrument(mux)
	for _, path := range []string{"/tasks/1", "/tasks/2", "/nothing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	m.Event("task-events", "TaskCreated", "stored")
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`todo_http_requests_total{method="GET",route="GET /tasks/{id}",service="test-service",status="418"} 2`,
		`todo_http_requests_total{method="GET",route="unmatched",service="test-service",status="404"} 1`,
		`todo_events_handled_total{event_type="TaskCreated",outcome="stored",service="test-service",topic="task-events"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s\n%s", want, body)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.Event("t", "e", "o") // must not panic
	if nilMetrics.Instrument(mux) == nil {
		t.Error("nil Metrics must pass the handler through")
	}
}

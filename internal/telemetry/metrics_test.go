package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

func TestLabelsComeFromClosedSets(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"GET", "GET"}, {"PATCH", "PATCH"}, {"TRACE", "TRACE"}, {"get", "other"}, {"PROPFIND", "other"},
		{strings.Repeat("X", 10<<10), "other"}, {"", "other"},
	} {
		if got := MethodLabel(tt.in); got != tt.want {
			t.Errorf("MethodLabel(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   int
		want string
	}{{200, "200"}, {429, "429"}, {599, "5xx"}, {299, "2xx"}, {99, "other"}, {1000, "other"}, {-1, "other"}} {
		if got := StatusLabel(tt.in); got != tt.want {
			t.Errorf("StatusLabel(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A flood of made-up methods, paths and statuses adds no series.
func TestInstrumentSeriesAreBounded(t *testing.T) {
	m := NewMetrics("test-service")
	mux := http.NewServeMux()
	mux.HandleFunc("/echo/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	h := m.Instrument(mux)
	for i := range 5000 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Method = "M" + strconv.Itoa(i) + strings.Repeat("X", 100)
		req.URL.Path = "/echo/" + strconv.Itoa(100+i%500)
		if i%2 == 0 {
			req.URL.Path = "/nothing/" + strconv.Itoa(i)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	n, err := testutil.GatherAndCount(m.Registry, "todo_http_requests_total", "todo_http_request_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	// routes {"/echo/{code}", "unmatched"} x method {"other"} x statuses
	// (at most ~60 known codes and 5 classes), plus one histogram per route.
	if n > 2*70+2 {
		t.Errorf("%d series after 5,000 made-up requests", n)
	}
}

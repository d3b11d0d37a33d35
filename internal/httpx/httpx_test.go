package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequireAppToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		configured, sent string
		want             int
	}{
		{"secret", "secret", http.StatusNoContent},
		{"secret", "", http.StatusUnauthorized},
		{"secret", "Secret", http.StatusUnauthorized},
		{"secret", "secret-and-more", http.StatusUnauthorized},
		{"", "", http.StatusNoContent}, // not configured: open (a warning is logged at start)
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if tt.sent != "" {
			req.Header.Set(AppTokenHeader, tt.sent)
		}
		rec := httptest.NewRecorder()
		RequireAppToken(tt.configured, ok).ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("configured %q, sent %q: %d, want %d", tt.configured, tt.sent, rec.Code, tt.want)
		}
	}
}

func TestProbes(t *testing.T) {
	for _, tt := range []struct {
		ready func(context.Context) error
		want  int
	}{
		{nil, http.StatusOK},
		{func(context.Context) error { return nil }, http.StatusOK},
		{func(context.Context) error { return errors.New("db down") }, http.StatusServiceUnavailable},
	} {
		mux := http.NewServeMux()
		HandleProbes(mux, tt.ready)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != tt.want {
			t.Errorf("readyz: %d, want %d", rec.Code, tt.want)
		}
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("healthz: %d", rec.Code)
		}
	}
}

func TestTraceID(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if got := TraceID(req); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID = %s", got)
	}
	req.Header.Set("traceparent", "00-00000000000000000000000000000000-0000000000000000-00")
	if got := TraceID(req); len(got) != 32 || got == "00000000000000000000000000000000" {
		t.Errorf("an all-zero trace id must be replaced, got %q", got)
	}
}

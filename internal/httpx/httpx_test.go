package httpx

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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

// A port holds at most maxConns connections: the next one is served only
// once one of them has closed.
func TestServeBoundsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, slog.New(slog.DiscardHandler), addr, 2, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok"))
		}))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var held []net.Conn
	for len(held) < 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		// A whole request on each, so that the server has accepted it.
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	third := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third connection was served while two were held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	if err := <-third; err != nil {
		t.Fatalf("once one closed, the third: %v", err)
	}
	held[1].Close()
}

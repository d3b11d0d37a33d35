// Package httpx holds the HTTP conventions every service shares: JSON
// answers, the error body, the app-token check for calls from the Dapr
// sidecar, request logging and graceful serving.
package httpx

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"
)

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// ErrorBody is the body of every error answer:
// {"error": {"code": "...", "message": "...", "field": "..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// WriteError answers an error in the shared format.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// AppTokenHeader is the header the Dapr sidecar sends to its app when it was
// started with APP_API_TOKEN.
const AppTokenHeader = "dapr-api-token"

// RequireAppToken lets a request through only when it carries the app API
// token, that is when it comes from this app's own sidecar. An empty token
// disables the check (local experiments); services log a warning then.
func RequireAppToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get(AppTokenHeader))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			WriteError(w, http.StatusUnauthorized, "unauthorized", "this route is only for the Dapr sidecar")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TraceID is the trace id of the request: its span's (continued from the
// traceparent header Dapr sets), or the header's, or a new one.
func TraceID(r *http.Request) string {
	if sc := trace.SpanContextFromContext(r.Context()); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	if tp := r.Header.Get("traceparent"); len(tp) == 55 && tp[2] == '-' && tp[35] == '-' &&
		tp[3:35] != "00000000000000000000000000000000" {
		return tp[3:35]
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Serve serves h on addr until ctx ends, then shuts down gracefully. At
// most maxConns connections are open at once (each is a goroutine and its
// buffers); more wait in the kernel's queue until one closes. 0: no bound.
func Serve(ctx context.Context, log *slog.Logger, addr string, maxConns int, h http.Handler) error {
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if maxConns > 0 {
		ln = netutil.LimitListener(ln, maxConns)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// NoSniff makes every answer of next say X-Content-Type-Options: nosniff,
// so that no browser runs a JSON error or an event stream as a script or a
// page.
func NoSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// HandleProbes adds GET /healthz (the process answers) and GET /readyz
// (ready, when not nil, says nil within 2 s) to mux.
func HandleProbes(mux *http.ServeMux, ready func(context.Context) error) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				WriteError(w, http.StatusServiceUnavailable, "unavailable", "a dependency is unreachable")
				return
			}
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// StatusWriter remembers the status of an answer (200 unless WriteHeader
// said otherwise) and whether anything was written yet.
type StatusWriter struct {
	http.ResponseWriter
	Status int
	Wrote  bool
}

// NewStatusWriter wraps w.
func NewStatusWriter(w http.ResponseWriter) *StatusWriter {
	return &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
}

// WriteHeader implements http.ResponseWriter.
func (w *StatusWriter) WriteHeader(code int) {
	if !w.Wrote {
		w.Status, w.Wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController the writer underneath (Flush,
// write deadlines: what a stream needs).
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Write implements http.ResponseWriter.
func (w *StatusWriter) Write(b []byte) (int, error) {
	w.Wrote = true
	return w.ResponseWriter.Write(b)
}

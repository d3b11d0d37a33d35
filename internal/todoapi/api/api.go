// Package api is todo-api's public HTTP interface: JSON over stdlib net/http,
// bearer-token auth, one route table that also drives the OpenAPI check.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/ratelimit"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// TaskStore is what the API needs from storage. Every method is scoped to
// userID and answers task.ErrNotFound for another user's task.
type TaskStore interface {
	CreateTask(ctx context.Context, userID string, p task.Patch) (task.Task, error)
	GetTask(ctx context.Context, userID string, id int64) (task.Task, error)
	ListTasks(ctx context.Context, userID string, q task.ListQuery) ([]task.Task, string, error)
	UpdateTask(ctx context.Context, userID string, id int64, p task.Patch) (task.Task, error)
	CompleteTask(ctx context.Context, userID string, id int64) (task.Task, error)
	ReopenTask(ctx context.Context, userID string, id int64) (task.Task, error)
	SkipTask(ctx context.Context, userID string, id int64) (task.Task, error)
	DeleteTask(ctx context.Context, userID string, id int64) error
	Ping(ctx context.Context) error
}

// TokenVerifier turns a bearer token into a user id.
type TokenVerifier interface {
	Verify(token string) (string, error)
}

// Config names the other apps todo-api calls and the app API token its
// sidecar sends.
type Config struct {
	AppToken      string // required on sidecar-only routes when not empty
	AuditAppID    string
	NotifierAppID string
	WriteRate     float64 // writes per second per user on /api routes; 0 disables the limit
	WriteBurst    int     // writes a user may make at once
}

// Store is what the server needs from storage: the public routes' TaskStore
// and the internal routes' InternalStore, in one value (*store.Store is one).
type Store interface {
	TaskStore
	InternalStore
}

// Server serves the API.
type Server struct {
	store   Store
	tokens  TokenVerifier
	invoker Invoker
	log     *slog.Logger
	cfg     Config
	writes  *ratelimit.Limiter // nil: no limit
}

// New returns a Server on st.
func New(st Store, tokens TokenVerifier, invoker Invoker, log *slog.Logger, cfg Config) *Server {
	return &Server{store: st, tokens: tokens, invoker: invoker, log: log, cfg: cfg,
		writes: ratelimit.New(ratelimit.Config{PerSecond: cfg.WriteRate, Burst: cfg.WriteBurst})}
}

// Route is one entry of the route table.
type Route struct {
	Method   string
	Path     string // http.ServeMux pattern path
	Auth     bool   // requires a bearer token
	Internal bool   // only for the Dapr sidecar: on the app port alone, behind the app API token; not in the public API
	Probe    bool   // a probe: on both ports (the platform's and the sidecar's checks use the app port's)
	handler  func(w http.ResponseWriter, r *http.Request) error
}

// Routes lists every route the server answers, for the mux and for the
// check against the OpenAPI description.
func (s *Server) Routes() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Probe: true, handler: s.healthz},
		{Method: "GET", Path: "/readyz", Probe: true, handler: s.readyz},
		{Method: "GET", Path: "/api/openapi.yaml", handler: serveOpenAPIYAML},
		{Method: "GET", Path: "/api/openapi.json", handler: serveOpenAPIJSON},
		{Method: "POST", Path: "/api/tasks", Auth: true, handler: s.createTask},
		{Method: "GET", Path: "/api/tasks", Auth: true, handler: s.listTasks},
		{Method: "GET", Path: "/api/tasks/{id}", Auth: true, handler: s.getTask},
		{Method: "PATCH", Path: "/api/tasks/{id}", Auth: true, handler: s.updateTask},
		{Method: "DELETE", Path: "/api/tasks/{id}", Auth: true, handler: s.deleteTask},
		{Method: "POST", Path: "/api/tasks/{id}/complete", Auth: true, handler: s.completeTask},
		{Method: "POST", Path: "/api/tasks/{id}/reopen", Auth: true, handler: s.reopenTask},
		{Method: "POST", Path: "/api/tasks/{id}/skip", Auth: true, handler: s.skipTask},
		{Method: "GET", Path: "/api/recurrence/preview", Auth: true, handler: s.previewRecurrence},
		{Method: "GET", Path: "/api/tasks/{id}/history", Auth: true, handler: s.history},
		{Method: "GET", Path: "/api/notifications", Auth: true, handler: s.notifications},
		{Method: "POST", Path: "/api/notifications/{id}/read", Auth: true, handler: s.readNotification},
		// Called by the other services through Dapr service invocation.
		{Method: "POST", Path: todointernal.PatternNextOccurrence, Internal: true, handler: s.nextOccurrence},
		{Method: "GET", Path: "/" + todointernal.PathRemindersDue, Internal: true, handler: s.dueReminders},
		{Method: "POST", Path: "/" + todointernal.PathRemindersSent, Internal: true, handler: s.remindersSent},
		{Method: "POST", Path: "/" + todointernal.PathRemindersReleased, Internal: true, handler: s.remindersReleased},
		// The sidecar asks every app for its configuration and programmatic
		// subscriptions at start; todo-api has none.
		{Method: "GET", Path: "/dapr/config", handler: jsonConst(`{}`), Internal: true},
		{Method: "GET", Path: "/dapr/subscribe", handler: jsonConst(`[]`), Internal: true},
	}
}

// PublicHandler serves the public API, on the port that people and
// clients reach: every route but the internal ones.
func (s *Server) PublicHandler() http.Handler { return s.handler(false) }

// AppHandler serves the app port, which only todo-api's sidecar and the
// platform reach: the internal routes (behind the app API token), the
// probes and what the sidecar asks at start.
func (s *Server) AppHandler() http.Handler { return s.handler(true) }

func (s *Server) handler(appPort bool) http.Handler {
	mux := http.NewServeMux()
	methods := map[string][]string{}
	for _, rt := range s.Routes() {
		if !rt.Probe && rt.Internal != appPort {
			continue
		}
		h := s.wrap(rt)
		if rt.Internal {
			h = httpx.RequireAppToken(s.cfg.AppToken, h)
		}
		mux.Handle(rt.Method+" "+rt.Path, h)
		if rt.Method == http.MethodGet {
			methods[rt.Path] = append(methods[rt.Path], http.MethodHead)
		}
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
	}
	// ServeMux answers unknown paths and methods in plain text; these
	// catch-alls answer in the API's JSON error format instead.
	for path, allowed := range methods {
		allow := strings.Join(allowed, ", ")
		mux.Handle(path, s.wrap(Route{Path: path, handler: func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", allow)
			return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "", r.Method+" is not allowed here; allowed: "+allow)
		}}))
	}
	mux.Handle("/", s.wrap(Route{Path: "/", handler: func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, CodeNotFound, "", "no such route: "+r.URL.Path)
	}}))
	return mux
}

type ctxKey int

const userKey ctxKey = 0

func userID(r *http.Request) string { s, _ := r.Context().Value(userKey).(string); return s }

// wrap adds auth, the per-user write limit, error mapping, panic recovery
// and one access-log line.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := httpx.NewStatusWriter(w)
		traceID := httpx.TraceID(r)
		sw.Header().Set("X-Trace-Id", traceID)
		log := s.log.With("trace_id", traceID)
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in handler", "panic", p, "path", r.URL.Path)
				if !sw.Wrote {
					writeAPIError(sw, errorf(http.StatusInternalServerError, CodeInternal, "", "internal error; it has been logged"))
				}
			}
			if rt.Path == "/healthz" || rt.Path == "/readyz" || strings.HasPrefix(rt.Path, "/dapr/") {
				return
			}
			log.Info("request", "method", r.Method, "route", rt.Path, "path", r.URL.Path, "status", sw.Status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000, "user_id", userID(r))
		}()
		if rt.Auth {
			uid, err := s.authenticate(r)
			if err != nil {
				sw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				writeAPIError(sw, errorf(http.StatusUnauthorized, CodeUnauthorized, "", err.Error()))
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), userKey, uid))
			if s.limitWrites(sw, r, uid) {
				return
			}
		}
		err := checkQuery(r)
		if err == nil {
			err = rt.handler(sw, r)
		}
		if err != nil {
			ae, known := toAPIError(err)
			if !known {
				log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeAPIError(sw, ae)
		}
	})
}

func (s *Server) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return "", errors.New("missing Authorization: Bearer <token> header")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("the Authorization header must be: Bearer <token>")
	}
	uid, err := s.tokens.Verify(strings.TrimSpace(token))
	if err != nil {
		s.log.Debug("token refused", "err", err)
		return "", errors.New("invalid or expired token")
	}
	return uid, nil
}

func jsonConst(body string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
		return nil
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("not ready: database unreachable", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"status": "unavailable", "checks": map[string]string{"database": "unreachable"},
		})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": map[string]string{"database": "ok"}})
	return nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, CodeInvalidID, "id", "task id must be a positive integer")
	}
	return id, nil
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) error {
	members, err := readObject(w, r, writableFields...)
	if err != nil {
		return err
	}
	if _, ok := members["title"]; !ok {
		return badField("title", "is required")
	}
	p, err := decodePatch(members)
	if err != nil {
		return err
	}
	t, err := s.store.CreateTask(r.Context(), userID(r), p)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/tasks/"+strconv.FormatInt(t.ID, 10))
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// taskList is the body of GET /api/tasks.
type taskList struct {
	Tasks      []task.Task `json:"tasks"`
	NextCursor *string     `json:"next_cursor"`
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	list, next, err := s.store.ListTasks(r.Context(), userID(r), q)
	if err != nil {
		return err
	}
	out := taskList{Tasks: list}
	if out.Tasks == nil {
		out.Tasks = []task.Task{}
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := s.store.GetTask(r.Context(), userID(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	members, err := readObject(w, r, writableFields...)
	if err != nil {
		return err
	}
	p, err := decodePatch(members)
	if err != nil {
		return err
	}
	t, err := s.store.UpdateTask(r.Context(), userID(r), id, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) deleteTask(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTask(r.Context(), userID(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) completeTask(w http.ResponseWriter, r *http.Request) error {
	return s.transition(w, r, s.store.CompleteTask)
}

func (s *Server) reopenTask(w http.ResponseWriter, r *http.Request) error {
	return s.transition(w, r, s.store.ReopenTask)
}

func (s *Server) skipTask(w http.ResponseWriter, r *http.Request) error {
	return s.transition(w, r, s.store.SkipTask)
}

func (s *Server) transition(w http.ResponseWriter, r *http.Request,
	fn func(context.Context, string, int64) (task.Task, error),
) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := fn(r.Context(), userID(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/evolution-todo/todo/internal/task"
)

// history answers the audit trail of one of the caller's tasks, deleted or
// not, from audit-service.
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ok, err := s.internal.OwnsTask(r.Context(), userID(r), id)
	if err != nil {
		return err
	}
	if !ok {
		return task.ErrNotFound
	}
	return s.relay(w, r, s.cfg.AuditAppID, http.MethodGet, "tasks/"+strconv.FormatInt(id, 10)+"/history", nil)
}

// notifications answers the caller's inbox from notification-service.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	q := url.Values{}
	for name, vals := range r.URL.Query() {
		if name != "limit" && name != "cursor" {
			return badQuery(name, "unknown query parameter "+strconv.Quote(name)+"; allowed: limit, cursor")
		}
		q[name] = vals
	}
	return s.relay(w, r, s.cfg.NotifierAppID, http.MethodGet, "inbox/"+url.PathEscape(userID(r)), q)
}

func (s *Server) readNotification(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if len(id) == 0 || len(id) > 64 {
		return errorf(http.StatusBadRequest, CodeInvalidID, "id", "notification id must be 1-64 characters")
	}
	return s.relay(w, r, s.cfg.NotifierAppID, http.MethodPost,
		"inbox/"+url.PathEscape(userID(r))+"/"+url.PathEscape(id)+"/read", nil)
}

// relay forwards a call to another app through the sidecar and answers its
// JSON answer as it is (its 4xx are the caller's mistakes); an unreachable
// or failing app is a 503.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, appID, method, path string, q url.Values) error {
	resp, err := s.invoker.Invoke(r.Context(), appID, method, path, q, nil)
	if err != nil || resp.Status >= 500 {
		status := 0
		if err == nil {
			status = resp.Status
		}
		s.log.Warn("dependency unavailable", "app_id", appID, "status", status, "err", err)
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "", appID+" is unavailable; try again shortly")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return nil
}

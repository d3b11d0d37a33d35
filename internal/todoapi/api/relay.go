package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// The routes below reach another app through the sidecar. Nothing a user
// sends goes into the invocation method as it is: ids are parsed into
// their canonical form first (a task id is an integer, a notification id a
// UUID), and the caller's user id travels as a query or body value, where
// the sidecar cannot rewrite it (daprd decodes and path.Cleans the method).

// Page bounds the API checks before asking another app.
const (
	MaxHistoryLimit      = 1000
	MaxNotificationLimit = 100
	maxCursorLen         = 512
)

// history answers one page of the audit trail of one of the caller's
// tasks, deleted or not, from audit-service.
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	q, err := relayQuery(r, MaxHistoryLimit, opaqueCursor)
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
	return s.relay(w, r, s.cfg.AuditAppID, http.MethodGet, "tasks/"+strconv.FormatInt(id, 10)+"/history", q, nil)
}

// notifications answers the caller's inbox from notification-service.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	q, err := relayQuery(r, MaxNotificationLimit, notificationCursor)
	if err != nil {
		return err
	}
	q.Set("user_id", userID(r))
	return s.relay(w, r, s.cfg.NotifierAppID, http.MethodGet, "inbox", q, nil)
}

// readNotification marks one of the caller's notifications read.
func (s *Server) readNotification(w http.ResponseWriter, r *http.Request) error {
	id, ok := canonicalUUID(r.PathValue("id"))
	if !ok {
		return errorf(http.StatusBadRequest, CodeInvalidID, "id", "notification id must be a UUID such as 0b6f3c1e-2b9a-5f0e-9a57-5c0de1e7a001")
	}
	return s.relay(w, r, s.cfg.NotifierAppID, http.MethodPost, "inbox/read", nil,
		map[string]string{"user_id": userID(r), "id": id})
}

// canonicalUUID returns s when it is a UUID in its canonical form
// (lowercase, hyphenated, 36 characters), which is how notification ids
// are made.
func canonicalUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return "", false
	}
	return s, true
}

// notificationCursor accepts a notification id as a cursor.
func notificationCursor(s string) bool { _, ok := canonicalUUID(s); return ok }

// opaqueCursor accepts a cursor of base64url characters, as audit-service
// makes them; audit-service checks the rest.
func opaqueCursor(s string) bool {
	if len(s) > maxCursorLen {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// relayQuery checks the query of a relayed list route (limit and cursor,
// nothing else) and returns it rebuilt from the checked values only.
func relayQuery(r *http.Request, maxLimit int, validCursor func(string) bool) (url.Values, error) {
	in, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badQuery("", "the query string is not valid percent-encoding")
	}
	out := url.Values{}
	for name, vals := range in {
		if name != "limit" && name != "cursor" {
			return nil, badQuery(name, "unknown query parameter "+strconv.Quote(name)+"; allowed: limit, cursor")
		}
		if len(vals) != 1 {
			return nil, badQuery(name, name+": give it once")
		}
	}
	if v, ok := in["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxLimit {
			return nil, badQuery("limit", fmt.Sprintf("limit: must be an integer from 1 to %d", maxLimit))
		}
		out.Set("limit", strconv.Itoa(n))
	}
	if v, ok := in["cursor"]; ok {
		if v[0] == "" || !validCursor(v[0]) {
			return nil, errorf(http.StatusBadRequest, CodeInvalidCursor, "cursor", "cursor: not one this API gave; start again without cursor")
		}
		out.Set("cursor", v[0])
	}
	return out, nil
}

// relay forwards a call to another app through the sidecar and answers its
// JSON answer as it is (its 4xx are the caller's mistakes); an unreachable
// or failing app, or an answer too large to pass on whole, is a 503.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, appID, method, path string, q url.Values, body any) error {
	resp, err := s.invoker.Invoke(r.Context(), appID, method, path, q, body)
	if err != nil || resp.Status >= 500 {
		status := 0
		if err == nil {
			status = resp.Status
		}
		s.log.Warn("dependency unavailable", "app_id", appID, "status", status, "err", err,
			"too_large", errors.Is(err, dapr.ErrResponseTooLarge))
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "", appID+" is unavailable; try again shortly")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return nil
}

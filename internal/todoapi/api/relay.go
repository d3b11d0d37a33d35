package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/evolution-todo/todo/internal/contract/auditapi"
	"github.com/evolution-todo/todo/internal/contract/notifierapi"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// The routes below reach another app through the sidecar. Nothing a user
// sends goes into the invocation method as it is: ids are parsed into
// their canonical form first (a task id is an integer, a notification id a
// UUID), and the caller's user id travels as a query or body value, where
// the sidecar cannot rewrite it (daprd decodes and path.Cleans the method).

// maxCursorLen bounds a cursor the API passes on.
const maxCursorLen = 512

// history answers one page of the audit trail of one of the caller's
// tasks, deleted or not, from audit-service.
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	limit, cursor, err := relayQuery(r, auditapi.MaxHistoryLimit, opaqueCursor)
	if err != nil {
		return err
	}
	ok, err := s.store.OwnsTask(r.Context(), userID(r), id)
	if err != nil {
		return err
	}
	if !ok {
		return task.ErrNotFound
	}
	audit := auditapi.Client{Dapr: s.invoker, AppID: s.cfg.AuditAppID}
	page, err := audit.History(r.Context(), id, auditapi.HistoryQuery{Cursor: cursor, Limit: limit})
	return s.answer(w, s.cfg.AuditAppID, page, err)
}

// notifications answers the caller's inbox from notification-service.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := relayQuery(r, notifierapi.MaxLimit, notificationCursor)
	if err != nil {
		return err
	}
	notifier := notifierapi.Client{Dapr: s.invoker, AppID: s.cfg.NotifierAppID}
	page, err := notifier.Inbox(r.Context(), notifierapi.InboxQuery{UserID: userID(r), Cursor: cursor, Limit: limit})
	return s.answer(w, s.cfg.NotifierAppID, page, err)
}

// readNotification marks one of the caller's notifications read.
func (s *Server) readNotification(w http.ResponseWriter, r *http.Request) error {
	id, ok := canonicalUUID(r.PathValue("id"))
	if !ok {
		return errorf(http.StatusBadRequest, CodeInvalidID, "id", "notification id must be a UUID such as 0b6f3c1e-2b9a-5f0e-9a57-5c0de1e7a001")
	}
	notifier := notifierapi.Client{Dapr: s.invoker, AppID: s.cfg.NotifierAppID}
	n, err := notifier.MarkRead(r.Context(), userID(r), id)
	return s.answer(w, s.cfg.NotifierAppID, n, err)
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

// relayQuery checks the query of a relayed list route: limit and cursor,
// each at most once, nothing else. A limit of 0 is not given.
func relayQuery(r *http.Request, maxLimit int, validCursor func(string) bool) (limit int, cursor string, err error) {
	in, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, "", badQuery("", "the query string is not valid percent-encoding")
	}
	for name, vals := range in {
		if name != "limit" && name != "cursor" {
			return 0, "", badQuery(name, "unknown query parameter "+strconv.Quote(name)+"; allowed: limit, cursor")
		}
		if len(vals) != 1 {
			return 0, "", badQuery(name, name+": give it once")
		}
	}
	if v, ok := in["limit"]; ok {
		limit, err = strconv.Atoi(v[0])
		if err != nil || limit < 1 || limit > maxLimit {
			return 0, "", badQuery("limit", fmt.Sprintf("limit: must be an integer from 1 to %d", maxLimit))
		}
	}
	if v, ok := in["cursor"]; ok {
		if v[0] == "" || !validCursor(v[0]) {
			return 0, "", errorf(http.StatusBadRequest, CodeInvalidCursor, "cursor", "cursor: not one this API gave; start again without cursor")
		}
		cursor = v[0]
	}
	return limit, cursor, nil
}

// answer writes what another app answered through its contract client:
// the typed answer, or the app's own 400 or 404 as it is (the caller's
// mistake: an expired cursor, an unknown notification). Any other refusal
// (a 401 or 403 is this system's own misconfiguration, never the caller's),
// an unreachable or failing app, or an answer too large to pass on whole,
// is a 503.
func (s *Server) answer(w http.ResponseWriter, appID string, v any, err error) error {
	var refused *dapr.AppError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
		return nil
	case errors.As(err, &refused) && (refused.Status == http.StatusBadRequest || refused.Status == http.StatusNotFound):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refused.Status)
		_, _ = w.Write(refused.Body)
		return nil
	}
	status := 0
	if refused != nil {
		status = refused.Status
	}
	s.log.Warn("dependency unavailable", "app_id", appID, "status", status, "err", err,
		"too_large", errors.Is(err, dapr.ErrResponseTooLarge))
	return errorf(http.StatusServiceUnavailable, CodeUnavailable, "", appID+" is unavailable; try again shortly")
}

package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evolution-todo/todo/internal/todoapi/task"
)

var listParams = []string{"status", "priority", "tag", "q", "due_before", "due_after", "sort", "order", "limit", "cursor"}

// parseListQuery validates the query string of GET /api/tasks.
func parseListQuery(v url.Values) (task.ListQuery, error) {
	q := task.ListQuery{Status: task.StatusAll, Sort: task.SortCreatedAt, Limit: task.DefaultLimit}
	for name, vals := range v {
		if !slices.Contains(listParams, name) {
			return q, badQuery(name, fmt.Sprintf("unknown query parameter %q; allowed: %s", name, strings.Join(listParams, ", ")))
		}
		if len(vals) > 1 {
			return q, badQuery(name, fmt.Sprintf("%s: give it at most once", name))
		}
	}
	switch s := v.Get("status"); s {
	case "", "all":
	case "open", "completed":
		q.Status = task.Status(s)
	default:
		return q, badQuery("status", "status: must be one of open, completed, all")
	}
	if s := v.Get("priority"); s != "" {
		p, err := task.ParsePriority(s)
		if err != nil {
			return q, badQuery("priority", "priority: "+err.Error())
		}
		q.Priority = &p
	}
	q.Tag = strings.TrimSpace(v.Get("tag"))
	if err := task.CheckText("tag", q.Tag); err != nil {
		return q, badQuery("tag", err.Error())
	}
	if utf8.RuneCountInString(q.Tag) > task.MaxTagLen {
		return q, badQuery("tag", fmt.Sprintf("tag: must be at most %d characters", task.MaxTagLen))
	}
	q.Q = strings.TrimSpace(v.Get("q"))
	if err := task.CheckText("q", q.Q); err != nil {
		return q, badQuery("q", err.Error())
	}
	if utf8.RuneCountInString(q.Q) > task.MaxTitleLen {
		return q, badQuery("q", fmt.Sprintf("q: must be at most %d characters", task.MaxTitleLen))
	}
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"due_before", &q.DueBefore}, {"due_after", &q.DueAfter}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil || !task.TimeInRange(t) {
				return q, badQuery(p.name, p.name+": must be an RFC 3339 time such as 2025-01-31T09:00:00Z (encode + as %2B)")
			}
			*p.dst = &t
		}
	}
	switch s := v.Get("sort"); s {
	case "":
	case task.SortCreatedAt, task.SortDueAt, task.SortPriority, task.SortTitle:
		q.Sort = s
	default:
		return q, badQuery("sort", "sort: must be one of created_at, due_at, priority, title")
	}
	switch s := v.Get("order"); s {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		return q, badQuery("order", "order: must be asc or desc")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > task.MaxLimit {
			return q, badQuery("limit", fmt.Sprintf("limit: must be an integer from 1 to %d", task.MaxLimit))
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := task.DecodeCursor(s, q.Sort, q.Desc)
		if err != nil {
			return q, err
		}
		q.After = &c
	}
	return q, nil
}

// checkQuery refuses a query string that does not decode: a malformed
// percent-encoding (?limit=%zz) or a ";" separator, which r.URL.Query()
// would drop silently. Every route goes through it.
func checkQuery(r *http.Request) error {
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidQuery, "",
			"the query string is not valid URL encoding: "+err.Error())
	}
	return nil
}

func badQuery(name, msg string) error {
	return errorf(http.StatusBadRequest, CodeInvalidQuery, name, msg)
}

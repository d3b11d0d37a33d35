package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// MaxPreview bounds the occurrences one preview lists.
const MaxPreview = 50

// preview is the answer of GET /api/recurrence/preview.
type preview struct {
	Occurrences []time.Time `json:"occurrences"`
	Summary     string      `json:"summary"`
	RRule       string      `json:"rrule"` // the rule in its canonical form
}

// previewRecurrence is GET /api/recurrence/preview?rrule=&start=&timezone=&count=:
// the next count (default 5, at most MaxPreview) occurrences of the rule
// from start (start itself when it is one), and what the rule says in
// plain English. The page's editors use it, so that one engine decides
// every date.
func (s *Server) previewRecurrence(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("rrule") == "" {
		return badQuery("rrule", "rrule: is required, such as FREQ=WEEKLY;BYDAY=MO,TH")
	}
	rule, err := recurrence.ParseRRule(q.Get("rrule"))
	if err != nil {
		return badQuery("rrule", "rrule: "+err.Error())
	}
	start, err := time.Parse(time.RFC3339, q.Get("start"))
	if err != nil || !task.TimeInRange(start) {
		return badQuery("start", "start: must be an RFC 3339 time in the years 0001 to 9999, such as 2027-01-04T09:00:00+01:00")
	}
	zone := q.Get("timezone")
	if zone == "" {
		zone = "UTC"
	}
	if !task.IsTimezone(zone) {
		return badQuery("timezone", "timezone: must be an IANA time zone name such as Europe/Berlin")
	}
	count := 5
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPreview {
			return badQuery("count", fmt.Sprintf("count: must be an integer from 1 to %d", MaxPreview))
		}
		count = n
	}
	series, err := recurrence.NewSeries(rule, start, task.LoadZone(zone))
	if errors.Is(err, recurrence.ErrNoOccurrence) {
		return badQuery("rrule", fmt.Sprintf("rrule: has no occurrence within %d years of start", recurrence.Horizon))
	}
	if err != nil {
		return badQuery("rrule", "rrule: "+err.Error())
	}
	out := preview{Occurrences: series.Occurrences(start, count), Summary: series.Summary(), RRule: rule.String()}
	if out.Occurrences == nil {
		out.Occurrences = []time.Time{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/contract/todointernal"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// InternalStore is what the routes for other services need from storage.
type InternalStore interface {
	CreateNextOccurrence(ctx context.Context, userID string, prevID int64, next task.Task) (task.Task, bool, error)
	DueReminders(ctx context.Context, now time.Time, after *task.Reminder, limit int) ([]task.Reminder, error)
	MarkReminded(ctx context.Context, sent []task.Reminder) (int, error)
	ReleaseReminders(ctx context.Context, notSent []task.Reminder) (int, error)
	OwnsTask(ctx context.Context, userID string, id int64) (bool, error)
}

// Invoker calls other Dapr apps through todo-api's sidecar.
type Invoker interface {
	Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error)
}

// nextOccurrence (todointernal.NextOccurrence) creates the task following completed task {id} in its
// series: 201 when created, 200 with the same task when it already was.
func (s *Server) nextOccurrence(w http.ResponseWriter, r *http.Request) error {
	prev, err := pathID(r)
	if err != nil {
		return err
	}
	members, err := readObject(w, r, todointernal.NextOccurrenceFields...)
	if err != nil {
		return err
	}
	user, err := decodeValue[string]("user_id", members["user_id"], "must be a string")
	if err != nil || user.Value == "" {
		return badField("user_id", "is required")
	}
	anchor, err := decodeTime("recurrence_anchor", members["recurrence_anchor"], members["recurrence_anchor"] == nil)
	if err != nil {
		return err
	}
	place := task.SeriesPlace{Index: 1}
	if raw, ok := members["series_index"]; ok {
		v, err := decodeValue[int]("series_index", raw, "must be a positive integer")
		if err != nil || v.Value < 1 {
			return badField("series_index", "must be a positive integer")
		}
		place.Index = v.Value
	}
	if raw, ok := members["last_in_series"]; ok {
		v, err := decodeValue[bool]("last_in_series", raw, "must be true or false")
		if err != nil {
			return err
		}
		place.Last = v.Value
	}
	for _, k := range []string{"user_id", "recurrence_anchor", "series_index", "last_in_series"} {
		delete(members, k)
	}
	p, err := decodePatch(members)
	if err != nil {
		return err
	}
	if anchor.Value != nil {
		// The caller computed the occurrence's place in its series.
		place.Anchor = *anchor.Value
		p.Series = task.Some(place)
	}
	next, err := p.Apply(task.Defaults())
	if err != nil {
		return err
	}
	t, created, err := s.store.CreateNextOccurrence(r.Context(), user.Value, prev, next)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, t)
	return nil
}

// dueReminders (todointernal.DueQuery, DueReminders) lists reminders due
// before ?before=, after the position (?after_at=, ?after_id=), at most
// ?limit=. Listing claims them: a listed reminder is listed again
// until remindersSent records it, whatever happens to its task meanwhile
// (see store.DueReminders), so a sweep that published and died before the
// mark leaves it to the next one.
func (s *Server) dueReminders(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	before := time.Now()
	if v := q.Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return badQuery("before", "before: must be an RFC 3339 time")
		}
		before = t
	}
	limit := todointernal.DefaultRemindersPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > todointernal.MaxRemindersPage {
			return badQuery("limit", fmt.Sprintf("limit: must be an integer from 1 to %d", todointernal.MaxRemindersPage))
		}
		limit = n
	}
	var after *task.Reminder
	if v := q.Get("after_at"); v != "" {
		at, err := time.Parse(time.RFC3339Nano, v)
		id, err2 := strconv.ParseInt(q.Get("after_id"), 10, 64)
		if err != nil || err2 != nil {
			return badQuery("after_at", "after_at and after_id: must be an RFC 3339 time and a task id")
		}
		after = &task.Reminder{ReminderAt: at, TaskID: id}
	}
	list, err := s.store.DueReminders(r.Context(), before, after, limit)
	if err != nil {
		return err
	}
	out := todointernal.DueReminders{Reminders: make([]todointernal.Reminder, 0, len(list))}
	for _, d := range list {
		r := todointernal.Reminder{TaskID: d.TaskID, UserID: d.UserID, Title: d.Title,
			DueAt: d.DueAt, ReminderAt: d.ReminderAt, Timezone: d.Timezone}
		if d.Before != nil {
			r.Before = *d.Before
		}
		out.Reminders = append(out.Reminders, r)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// remindersSent records that reminders were published:
// {"reminders": [{"task_id": 1, "reminder_at": "..."}, ...]} answers
// {"marked": n}, the number recorded sent. Each is recorded whatever its
// task has become since it was listed (completed, deleted, reminder moved):
// its publish was accepted, so it was sent.
func (s *Server) remindersSent(w http.ResponseWriter, r *http.Request) error {
	sent, err := readReminders(w, r)
	if err != nil {
		return err
	}
	marked, err := s.store.MarkReminded(r.Context(), sent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, todointernal.Marked{Marked: marked})
	return nil
}

// remindersReleased gives back the claims of reminders whose publish the
// sidecar refused (so they were certainly not sent):
// {"reminders": [{"task_id": 1, "reminder_at": "..."}, ...]} answers
// {"released": n}. A released reminder is listed again only while its task
// is open and the reminder still due, so one whose task was completed or
// deleted meanwhile is never sent.
func (s *Server) remindersReleased(w http.ResponseWriter, r *http.Request) error {
	notSent, err := readReminders(w, r)
	if err != nil {
		return err
	}
	released, err := s.store.ReleaseReminders(r.Context(), notSent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, todointernal.Released{Released: released})
	return nil
}

// readReminders reads {"reminders": [{task_id, reminder_at}, ...]}.
func readReminders(w http.ResponseWriter, r *http.Request) ([]task.Reminder, error) {
	members, err := readObject(w, r, "reminders")
	if err != nil {
		return nil, err
	}
	var list []todointernal.ReminderRef
	if err := json.Unmarshal(members["reminders"], &list); err != nil || len(list) > todointernal.MaxRemindersPage {
		return nil, badField("reminders", fmt.Sprintf("must be a list of at most %d {task_id, reminder_at}", todointernal.MaxRemindersPage))
	}
	out := make([]task.Reminder, 0, len(list))
	for _, x := range list {
		if x.TaskID <= 0 || x.ReminderAt.IsZero() {
			return nil, badField("reminders", "each needs a task_id and a reminder_at")
		}
		out = append(out, task.Reminder{TaskID: x.TaskID, ReminderAt: x.ReminderAt})
	}
	return out, nil
}

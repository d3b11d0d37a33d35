package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

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

// nextOccurrenceFields are the members of POST /internal/tasks/{id}/next-occurrence.
var nextOccurrenceFields = []string{"user_id", "title", "description", "priority", "tags", "due_at",
	"reminder_at", "recurrence", "timezone", "recurrence_anchor"}

// nextOccurrence creates the task following completed task {id} in its
// series: 201 when created, 200 with the same task when it already was.
func (s *Server) nextOccurrence(w http.ResponseWriter, r *http.Request) error {
	prev, err := pathID(r)
	if err != nil {
		return err
	}
	members, err := readObject(w, r, nextOccurrenceFields...)
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
	delete(members, "user_id")
	delete(members, "recurrence_anchor")
	p, err := decodePatch(members)
	if err != nil {
		return err
	}
	next, err := p.Apply(task.Defaults())
	if err != nil {
		return err
	}
	if anchor.Value != nil {
		next.RecurrenceAnchor = anchor.Value
	}
	t, created, err := s.internal.CreateNextOccurrence(r.Context(), user.Value, prev, next)
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

// dueReminders lists reminders due before ?before=, after the position
// (?after_at=, ?after_id=), at most ?limit= (default 500, max
// MaxRemindersPage). Listing claims them: a listed reminder is listed again
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
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxRemindersPage {
			return badQuery("limit", fmt.Sprintf("limit: must be an integer from 1 to %d", MaxRemindersPage))
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
	list, err := s.internal.DueReminders(r.Context(), before, after, limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []task.Reminder{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"reminders": list})
	return nil
}

// MaxRemindersPage bounds the pages of the reminder routes.
const MaxRemindersPage = 1000

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
	marked, err := s.internal.MarkReminded(r.Context(), sent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"marked": marked})
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
	released, err := s.internal.ReleaseReminders(r.Context(), notSent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"released": released})
	return nil
}

// readReminders reads {"reminders": [{task_id, reminder_at}, ...]}.
func readReminders(w http.ResponseWriter, r *http.Request) ([]task.Reminder, error) {
	members, err := readObject(w, r, "reminders")
	if err != nil {
		return nil, err
	}
	var list []struct {
		TaskID     int64     `json:"task_id"`
		ReminderAt time.Time `json:"reminder_at"`
	}
	if err := json.Unmarshal(members["reminders"], &list); err != nil || len(list) > MaxRemindersPage {
		return nil, badField("reminders", fmt.Sprintf("must be a list of at most %d {task_id, reminder_at}", MaxRemindersPage))
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

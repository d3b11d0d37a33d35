// Package todointernal is the contract of the routes todo-api offers the
// other apps through their sidecars (never the public API): the next
// occurrence of a recurring task, and the due reminders with their claims.
package todointernal

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
)

// AppID is todo-api's default Dapr app id.
const AppID = "todo-api"

// Method paths (relative to /v1.0/invoke/<app>/method/); todo-api serves
// each on "/" + its path (PatternNextOccurrence for the next occurrence).
const (
	PathRemindersDue      = "internal/reminders/due"
	PathRemindersSent     = "internal/reminders/sent"
	PathRemindersReleased = "internal/reminders/released"

	PatternNextOccurrence = "/internal/tasks/{id}/next-occurrence"
)

// PathNextOccurrence is the method path of the next occurrence of task id.
func PathNextOccurrence(id int64) string {
	return "internal/tasks/" + strconv.FormatInt(id, 10) + "/next-occurrence"
}

// NextOccurrence is the body of POST /internal/tasks/{id}/next-occurrence:
// the task that follows completed task {id} in its series. DueAt is null
// for a series without a due date (it runs on its reminder).
//
// With an RRULE, SeriesIndex and LastInSeries are the occurrence's place in
// its series, which the caller computed: todo-api takes them as they are.
// Reminders are the next task's: relative ones as they were (todo-api
// computes their times from the new due time), absolute ones moved by the
// caller.
type NextOccurrence struct {
	UserID           string                `json:"user_id"`
	Title            string                `json:"title"`
	Description      string                `json:"description"`
	Priority         string                `json:"priority"`
	Tags             []string              `json:"tags"`
	DueAt            *time.Time            `json:"due_at"`
	Reminders        []events.ReminderSpec `json:"reminders"`
	Recurrence       string                `json:"recurrence"`
	RRule            *string               `json:"rrule,omitempty"`
	RepeatFrom       string                `json:"repeat_from,omitempty"`
	SeriesIndex      int                   `json:"series_index,omitempty"`
	LastInSeries     bool                  `json:"last_in_series,omitempty"`
	Timezone         string                `json:"timezone"`
	RecurrenceAnchor time.Time             `json:"recurrence_anchor"`
}

// NextOccurrenceFields are the JSON members the route accepts: those of
// NextOccurrence, and reminder_at, which callers of the version before
// several reminders send (one absolute reminder), so that a rolling
// upgrade loses no occurrence.
var NextOccurrenceFields = []string{"user_id", "title", "description", "priority", "tags", "due_at", "reminder_at",
	"reminders", "recurrence", "rrule", "repeat_from", "series_index", "last_in_series", "timezone", "recurrence_anchor"}

// Created is the part of the answer (the created task) callers read.
type Created struct {
	ID int64 `json:"id"`
}

// MaxRemindersPage bounds the pages of the reminder routes (the limit of
// due reminders, the entries of sent and released).
const MaxRemindersPage = 1000

// DefaultRemindersPage is the page size of due reminders without ?limit=.
const DefaultRemindersPage = 500

// Reminder is one due reminder, as GET internal/reminders/due lists it.
type Reminder struct {
	TaskID     int64      `json:"task_id"`
	UserID     string     `json:"user_id"`
	Title      string     `json:"title"`
	DueAt      *time.Time `json:"due_at"` // the task's due time; null when it has none
	ReminderAt time.Time  `json:"reminder_at"`
	Before     string     `json:"before,omitempty"` // the relative reminder it comes from, such as PT15M
	Timezone   string     `json:"timezone,omitempty"`
}

// DueQuery is the query of GET internal/reminders/due: the reminders due
// before Before, after the position After (nil from the start), at most
// Limit (DefaultRemindersPage when 0).
type DueQuery struct {
	Before time.Time
	After  *ReminderRef
	Limit  int
}

// Values encodes q as the route's query string.
func (q DueQuery) Values() url.Values {
	v := url.Values{"before": {q.Before.UTC().Format(time.RFC3339Nano)}}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.After != nil {
		v.Set("after_at", q.After.ReminderAt.UTC().Format(time.RFC3339Nano))
		v.Set("after_id", strconv.FormatInt(q.After.TaskID, 10))
	}
	return v
}

// DueReminders is the answer of GET internal/reminders/due.
type DueReminders struct {
	Reminders []Reminder `json:"reminders"`
}

// ReminderRef names one reminder: the body entries of sent and released.
type ReminderRef struct {
	TaskID     int64     `json:"task_id"`
	ReminderAt time.Time `json:"reminder_at"`
}

// Ref is r's name.
func (r Reminder) Ref() ReminderRef { return ReminderRef{TaskID: r.TaskID, ReminderAt: r.ReminderAt} }

// Reminders is the body of POST internal/reminders/sent and released.
type Reminders struct {
	Reminders []ReminderRef `json:"reminders"`
}

// Marked is the answer of POST internal/reminders/sent: how many were
// recorded sent.
type Marked struct {
	Marked int `json:"marked"`
}

// Released is the answer of POST internal/reminders/released: how many
// claims were given back.
type Released struct {
	Released int `json:"released"`
}

// Client calls todo-api's internal routes through the caller's sidecar.
type Client struct {
	Dapr  dapr.Invoker
	AppID string // AppID when empty
}

func (c Client) app() string {
	if c.AppID == "" {
		return AppID
	}
	return c.AppID
}

// NextOccurrence asks for the task following completed task prevID: its id,
// and whether this call created it (false: an earlier call did). A refusal
// is a *dapr.AppError.
func (c Client) NextOccurrence(ctx context.Context, prevID int64, req NextOccurrence) (id int64, created bool, err error) {
	var out Created
	status, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodPost, PathNextOccurrence(prevID), nil, req, &out)
	if err != nil {
		return 0, false, err
	}
	return out.ID, status == http.StatusCreated, nil
}

// Due lists (and claims) one page of due reminders.
func (c Client) Due(ctx context.Context, q DueQuery) ([]Reminder, error) {
	var out DueReminders
	if _, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodGet, PathRemindersDue, q.Values(), nil, &out); err != nil {
		return nil, err
	}
	return out.Reminders, nil
}

// Sent records that reminders were published.
func (c Client) Sent(ctx context.Context, sent []ReminderRef) (int, error) {
	var out Marked
	if _, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodPost, PathRemindersSent, nil, Reminders{sent}, &out); err != nil {
		return 0, err
	}
	return out.Marked, nil
}

// Release gives back the claims of reminders that were certainly not
// published.
func (c Client) Release(ctx context.Context, notSent []ReminderRef) (int, error) {
	var out Released
	if _, err := dapr.Call(ctx, c.Dapr, c.app(), http.MethodPost, PathRemindersReleased, nil, Reminders{notSent}, &out); err != nil {
		return 0, err
	}
	return out.Released, nil
}

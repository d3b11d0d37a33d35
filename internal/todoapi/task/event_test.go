package task

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/recurrence"
)

func TestEventHasSpecFields(t *testing.T) {
	at := time.Date(2024, 12, 10, 0, 0, 0, 0, time.UTC)
	tk := Task{ID: 123, UserID: "user_abc", Title: "Buy groceries", Recurrence: RecurrenceDaily, Timezone: "UTC"}
	b, err := json.Marshal(tk.Event(events.TaskCompleted, at))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// The spec's TaskCompleted schema, with exact names and JSON types.
	want := map[string]any{
		"event_type": "TaskCompleted",
		"task_id":    float64(123), // a JSON number, not a string
		"user_id":    "user_abc",
		"title":      "Buy groceries",
		"recurrence": "daily",
		"timestamp":  "2024-12-10T00:00:00Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if tags, ok := m["tags"].([]any); !ok || len(tags) != 0 {
		t.Errorf("tags = %#v, want []", m["tags"])
	}
}

// Every field of the snapshot comes from the task, and the timestamp is UTC.
func TestEventCopiesTheTask(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	at := time.Date(2024, 12, 10, 1, 0, 0, 0, berlin)
	due, rem, done, anchor := at.Add(time.Hour), at.Add(30*time.Minute), at.Add(2*time.Hour), at.Add(-time.Hour)
	series := int64(5)
	rule := "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4"
	before := recurrence.Before{Exact: 15 * time.Minute}
	tk := Task{
		ID: 9, UserID: "u", Title: "t", Description: "d", Priority: PriorityHigh, Tags: []string{"a", "b"},
		DueAt: &due, ReminderAt: &rem, Recurrence: RecurrenceWeekly, Timezone: "Europe/Berlin",
		Completed: true, CompletedAt: &done, Version: 3, SeriesID: &series, RecurrenceAnchor: &anchor,
		RRule: &rule, RepeatFrom: recurrence.FromCompletion, SeriesIndex: 2, LastInSeries: true, Skipped: true,
		Reminders: []ReminderSpec{{Before: &before}, {At: &rem}},
	}
	want := events.TaskEvent{
		EventType: events.TaskUpdated, TaskID: 9, UserID: "u", Title: "t", Timestamp: at.UTC(),
		Recurrence: "weekly", Description: "d", Priority: "high", Tags: []string{"a", "b"},
		DueAt: &due, ReminderAt: &rem, Timezone: "Europe/Berlin", Completed: true, CompletedAt: &done,
		Version: 3, SeriesID: &series, RecurrenceAnchor: &anchor,
		RRule: &rule, RepeatFrom: "completion", SeriesIndex: 2, LastInSeries: true, Skipped: true,
		Reminders: []events.ReminderSpec{{Before: "PT15M"}, {At: ptrUTC(rem)}},
	}
	got := tk.Event(events.TaskUpdated, at)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Event =\n%+v\nwant\n%+v", got, want)
	}
	if got.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp in %v, want UTC", got.Timestamp.Location())
	}
}

func ptrUTC(t time.Time) *time.Time { u := t.UTC(); return &u }

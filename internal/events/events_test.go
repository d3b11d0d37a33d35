package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTaskEventHasSpecFields(t *testing.T) {
	at := time.Date(2024, 12, 10, 0, 0, 0, 0, time.UTC)
	e := TaskEvent{EventType: TaskCompleted, TaskID: 123, UserID: "user_abc", Title: "Buy groceries",
		Timestamp: at, Recurrence: "daily", Timezone: "UTC", Tags: []string{}}
	b, err := json.Marshal(e)
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

func TestCloudEventCarriesIDAndData(t *testing.T) {
	at := time.Date(2024, 12, 10, 0, 0, 0, 0, time.UTC)
	data := TaskEvent{EventType: TaskCreated, TaskID: 7, UserID: "u", Title: "t", Timestamp: at, Tags: []string{}}
	ce, err := NewCloudEvent("0191-id", "todo-api", TaskCreated, 7, at, data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if env["id"] != "0191-id" || env["specversion"] != "1.0" || env["type"] != "todo.TaskCreated.v1" ||
		env["source"] != "todo-api" || env["subject"] != "7" || env["datacontenttype"] != "application/json" {
		t.Errorf("envelope = %v", env)
	}
	if _, top := env["task_id"]; top {
		t.Error("spec fields must be under data, not at the top level")
	}
	d, _ := env["data"].(map[string]any)
	if d["task_id"] != float64(7) || d["event_type"] != "TaskCreated" {
		t.Errorf("data = %v", d)
	}
	_, got, err := DecodeTaskEvent(b)
	if err != nil || got.TaskID != 7 || got.EventType != TaskCreated {
		t.Errorf("DecodeTaskEvent = %+v, %v", got, err)
	}
}

func TestDecodeTaskEventRejects(t *testing.T) {
	tests := map[string]string{
		"not json":        `nope`,
		"fields at top":   `{"specversion":"1.0","id":"1","source":"s","type":"t","event_type":"TaskCreated","task_id":1,"user_id":"u","timestamp":"2024-12-10T00:00:00Z"}`,
		"task_id string":  `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"event_type":"TaskCreated","task_id":"1","user_id":"u","timestamp":"2024-12-10T00:00:00Z"}}`,
		"no type":         `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"task_id":1,"user_id":"u","timestamp":"2024-12-10T00:00:00Z"}}`,
		"missing user_id": `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"event_type":"TaskCreated","task_id":1,"timestamp":"2024-12-10T00:00:00Z"}}`,
		"bad time":        `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"event_type":"TaskCreated","task_id":1,"user_id":"u","timestamp":"yesterday"}}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := DecodeTaskEvent([]byte(body)); err == nil {
				t.Error("accepted a malformed event")
			} else if !strings.HasPrefix(err.Error(), "events:") {
				t.Errorf("error not wrapped: %v", err)
			}
		})
	}
}

// An event type this version does not know is still a valid task event (a
// newer producer may send it); an unknown type on reminders is told apart
// from a malformed reminder.
func TestUnknownEventTypes(t *testing.T) {
	body := `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"event_type":"TaskArchived","task_id":1,"user_id":"u","timestamp":"2024-12-10T00:00:00Z"}}`
	_, e, err := DecodeTaskEvent([]byte(body))
	if err != nil || e.EventType != "TaskArchived" || KnownTaskEventType(e.EventType) {
		t.Errorf("DecodeTaskEvent(TaskArchived) = %+v, %v; want it decoded, and not known", e, err)
	}
	for _, known := range []string{TaskCreated, TaskUpdated, TaskDeleted, TaskCompleted} {
		if !KnownTaskEventType(known) {
			t.Errorf("%s is not known", known)
		}
	}
	rem := `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"event_type":"ReminderSnoozed","task_id":1,"user_id":"u"}}`
	if _, _, err := DecodeReminderEvent([]byte(rem)); !errors.Is(err, ErrUnknownEventType) {
		t.Errorf("DecodeReminderEvent(ReminderSnoozed) err = %v, want ErrUnknownEventType", err)
	}
	bad := `{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"application/json","data":{"event_type":"ReminderDue","task_id":"1","user_id":"u"}}`
	if _, _, err := DecodeReminderEvent([]byte(bad)); err == nil || errors.Is(err, ErrUnknownEventType) {
		t.Errorf("a malformed ReminderDue: err = %v, want a decode error that is not ErrUnknownEventType", err)
	}
}

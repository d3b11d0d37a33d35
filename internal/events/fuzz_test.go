package events

import (
	"encoding/json"
	"testing"
	"time"
)

func seedEvent(e TaskEvent) []byte {
	ce, _ := NewCloudEvent("id-1", "todo-api", e.EventType, e.TaskID, e.Timestamp, e)
	b, _ := json.Marshal(ce)
	return b
}

// Consumers decode whatever the sidecar delivers: nothing may panic, and
// what is accepted is valid.
func FuzzDecodeTaskEvent(f *testing.F) {
	f.Add(seedEvent(TaskEvent{EventType: TaskCompleted, TaskID: 1, UserID: "u", Title: "t", Recurrence: "daily",
		Timestamp: time.Unix(0, 0).UTC(), Tags: []string{}}))
	f.Add([]byte(`{"specversion":"1.0","id":"x","source":"s","type":"t","data":{"event_type":"TaskCreated","task_id":1e300}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"x","source":"s","type":"t","data_base64":"AAAA"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"data":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, e, err := DecodeTaskEvent(body)
		if err == nil && e.Validate() != nil {
			t.Fatalf("accepted an invalid event: %+v", e)
		}
	})
}

func FuzzDecodeReminderEvent(f *testing.F) {
	data := ReminderEvent{EventType: ReminderDue, TaskID: 4, UserID: "u", Title: "Call mom", ReminderAt: time.Unix(0, 0).UTC()}
	ce, _ := NewCloudEvent(ReminderEventID(4, data.ReminderAt), "reminder-service", ReminderDue, 4, data.ReminderAt, data)
	b, _ := json.Marshal(ce)
	f.Add(b)
	f.Add([]byte(`{"specversion":"1.0","id":"x","source":"s","type":"t","data":{"event_type":"ReminderDue","task_id":-1}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, e, err := DecodeReminderEvent(body)
		if err == nil && e.Validate() != nil {
			t.Fatalf("accepted an invalid reminder: %+v", e)
		}
	})
}

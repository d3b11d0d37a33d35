package dapr

import (
	"net/http"
)

// Subscription is one entry of the app's answer to GET /dapr/subscribe
// (programmatic subscriptions, with routing rules).
type Subscription struct {
	PubSubName      string `json:"pubsubname"`
	Topic           string `json:"topic"`
	Routes          Routes `json:"routes"`
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
}

// Routes send events to app paths: the first rule whose CEL Match holds,
// else Default.
type Routes struct {
	Rules   []Rule `json:"rules,omitempty"`
	Default string `json:"default,omitempty"`
}

// Rule routes the events matching a CEL expression to Path.
type Rule struct {
	Match string `json:"match"`
	Path  string `json:"path"`
}

// Status is what a subscriber answers for one event.
type Status string

// Statuses understood by the sidecar.
const (
	// Success: handled (or a duplicate); the sidecar commits the offset.
	Success Status = "SUCCESS"
	// Retry: a transient failure; the sidecar redelivers (resiliency
	// policy), then sends the event to the dead-letter topic.
	Retry Status = "RETRY"
	// Drop: the event can never be handled (malformed); the sidecar sends
	// it to the subscription's dead-letter topic.
	Drop Status = "DROP"
)

// MaxEventBytes bounds one delivered event.
const MaxEventBytes = 1 << 20

// WriteStatus answers the sidecar's delivery of an event.
func WriteStatus(w http.ResponseWriter, s Status) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"status":"` + string(s) + `"}`))
}

package dapr

import (
	"encoding/json"
	"net/http"
)

// Subscription is one entry of the app's answer to GET /dapr/subscribe
// (programmatic subscriptions, with routing rules).
type Subscription struct {
	PubSubName      string         `json:"pubsubname"`
	Topic           string         `json:"topic"`
	Routes          Routes         `json:"routes"`
	DeadLetterTopic string         `json:"deadLetterTopic,omitempty"`
	BulkSubscribe   *BulkSubscribe `json:"bulkSubscribe,omitempty"`
}

// BulkSubscribe has the sidecar deliver a topic's events in bulks: up to
// MaxMessagesCount of one partition in one request, sent once that many
// arrived or MaxAwaitDurationMs after the first.
type BulkSubscribe struct {
	Enabled            bool `json:"enabled"`
	MaxMessagesCount   int  `json:"maxMessagesCount,omitempty"`
	MaxAwaitDurationMs int  `json:"maxAwaitDurationMs,omitempty"`
}

// BulkDelivery is the body of a bulk delivery (the entries; daprd sends
// the topic and pub/sub's names too).
type BulkDelivery struct {
	Entries []BulkDeliveryEntry `json:"entries"`
}

// BulkDeliveryEntry is one event of a bulk delivery: the CloudEvent as a
// JSON object.
type BulkDeliveryEntry struct {
	EntryID     string          `json:"entryId"`
	Event       json.RawMessage `json:"event"`
	ContentType string          `json:"contentType,omitempty"`
}

// BulkStatus is the answer for one entry of a bulk delivery.
type BulkStatus struct {
	EntryID string `json:"entryId"`
	Status  Status `json:"status"`
}

// WriteBulkStatuses answers a bulk delivery: one status per entry. An entry
// without one is redelivered.
func WriteBulkStatuses(w http.ResponseWriter, statuses []BulkStatus) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(struct {
		Statuses []BulkStatus `json:"statuses"`
	}{statuses})
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

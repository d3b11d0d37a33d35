package dapr

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// MaxBulkBytes bounds the request body of one bulk publish that a caller
// builds (see BulkSize). daprd 1.18.2 refuses any request body over its
// --max-body-size, 4 MiB by default (runtime.DefaultMaxRequestBodySize),
// with 413, and a refused bulk would be retried as it is, forever. 1 MiB
// keeps a factor of 4 below that default, so that a sidecar run with a
// lower limit (2Mi, say) still takes every bulk, and so that one bulk stays
// about one produce request of pubsub.kafka (whose client sends at most
// 1,000,000 bytes per message set by default). It costs nothing at usual
// sizes: 1000 ordinary task events (under 1 KiB each) still fit in one bulk,
// and a maximal one (every text field at its limit, about 32 KiB encoded)
// still goes 30 to a bulk.
const MaxBulkBytes = 1 << 20

// bulkEntry is one entry of a bulk publish request as Dapr reads it.
type bulkEntry struct {
	EntryID     string            `json:"entryId"`
	Event       json.RawMessage   `json:"event"`
	ContentType string            `json:"contentType"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func (e BulkEntry) wire() bulkEntry {
	return bulkEntry{EntryID: e.ID, Event: e.Event, ContentType: ContentTypeCloudEvent, Metadata: e.Metadata}
}

// BulkSize is the number of bytes that e adds to a bulk publish request:
// its encoding (the event compacted, with <, > and & escaped as the encoder
// does) and a separating comma. A request of entries weighs 1 (the opening
// bracket) plus the sum of their sizes. An entry that cannot be encoded
// counts as its raw length; publishing it fails anyway.
func BulkSize(e BulkEntry) int {
	b, err := json.Marshal(e.wire())
	if err != nil {
		return len(e.Event) + len(e.ID)
	}
	return len(b) + 1
}

// BulkError is a bulk publish that failed. NotPublished lists the entry ids
// that the sidecar said it did not publish: all of them when the request
// was refused whole (403 topic not allowed, 404, 400, or the sidecar was not
// listening), those of its failedEntries otherwise. It is nil when the
// outcome is unknown (a timeout or a lost connection mid-request, an
// answer that does not list them): then some entries may have reached the
// broker.
type BulkError struct {
	Err          error
	NotPublished []string
}

func (e *BulkError) Error() string { return e.Err.Error() }
func (e *BulkError) Unwrap() error { return e.Err }

// NotPublished returns the entry ids of a failed bulk publish that were
// certainly not published, and whether the sidecar said which (see
// BulkError).
func NotPublished(err error) ([]string, bool) {
	var be *BulkError
	if errors.As(err, &be) && be.NotPublished != nil {
		return be.NotPublished, true
	}
	return nil, false
}

func entryIDs(entries []BulkEntry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// maxBulkErrorBytes bounds the read of a failed bulk's answer, which lists
// every failed entry with its error.
const maxBulkErrorBytes = 4 << 20

// bulkError reads daprd's answer to a failed bulk publish:
// {"failedEntries": [{"entryId", "error"}], "errorCode"} for a publish
// that failed at the broker, a plain error for a request refused whole.
func bulkError(topic string, resp *http.Response, entries []BulkEntry) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBulkErrorBytes))
	msg := strings.TrimSpace(string(b))
	if len(msg) > 4096 {
		msg = msg[:4096] + "..."
	}
	be := &BulkError{Err: &Error{Op: "bulk publish " + topic, Status: resp.StatusCode, Body: msg}}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		be.NotPublished = entryIDs(entries)
		return be
	}
	var ans struct {
		FailedEntries []struct {
			EntryID string `json:"entryId"`
		} `json:"failedEntries"`
		ErrorCode string `json:"errorCode"`
	}
	if err := json.Unmarshal(b, &ans); err == nil && ans.ErrorCode != "" && len(ans.FailedEntries) > 0 {
		be.NotPublished = make([]string, 0, len(ans.FailedEntries))
		for _, f := range ans.FailedEntries {
			be.NotPublished = append(be.NotPublished, f.EntryID)
		}
	}
	return be
}

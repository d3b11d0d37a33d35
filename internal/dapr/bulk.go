package dapr

import "encoding/json"

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

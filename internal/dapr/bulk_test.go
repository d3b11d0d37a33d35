package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// bulkRequest is one request the fake sidecar received.
type bulkRequest struct {
	method, path, contentType, token string
	hasToken                         bool
	body                             []byte
}

// bulkSidecar answers every request with status and answer; requests
// returns what it received so far.
func bulkSidecar(t *testing.T, status int, answer string) (srv *httptest.Server, requests func() []bulkRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []bulkRequest
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1.0/metadata" { // the client asks the component's type once (doubt.go)
			_, _ = io.WriteString(w, `{"components":[{"name":"kafka-pubsub","type":"pubsub.kafka"},{"name":"ps","type":"pubsub.kafka"}]}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		_, has := r.Header["Dapr-Api-Token"]
		mu.Lock()
		got = append(got, bulkRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("dapr-api-token"), has, body})
		mu.Unlock()
		if answer != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []bulkRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]bulkRequest(nil), got...)
	}
}

// wireEntry is one entry of a bulk publish request as Dapr reads it.
type wireEntry struct {
	EntryID     string            `json:"entryId"`
	Event       json.RawMessage   `json:"event"`
	ContentType string            `json:"contentType"`
	Metadata    map[string]string `json:"metadata"`
}

func twoEntries() []BulkEntry {
	return []BulkEntry{
		{ID: "id-1", Event: json.RawMessage(`{"specversion":"1.0","id":"id-1","source":"s","type":"t","data":{"task_id":1}}`),
			Metadata: map[string]string{"partitionKey": "1"}},
		{ID: "id-2", Event: json.RawMessage(`{"specversion":"1.0","id":"id-2","source":"s","type":"t","data":{"task_id":2}}`),
			Metadata: map[string]string{"partitionKey": "2"}},
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestBulkPublishCloudEventsRequest(t *testing.T) {
	srv, requests := bulkSidecar(t, http.StatusNoContent, "")
	c := New(srv.URL, "secret-token")
	entries := twoEntries()
	if err := c.BulkPublishCloudEvents(context.Background(), "kafka-pubsub", "reminders", entries); err != nil {
		t.Fatalf("BulkPublishCloudEvents: %v", err)
	}
	if len(requests()) != 1 {
		t.Fatalf("%d requests to the sidecar, want 1 for the whole batch", len(requests()))
	}
	r := requests()[0]
	if r.method != http.MethodPost || r.path != "/v1.0-alpha1/publish/bulk/kafka-pubsub/reminders" {
		t.Errorf("request = %s %s, want POST /v1.0-alpha1/publish/bulk/kafka-pubsub/reminders", r.method, r.path)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type = %q, want application/json (the list of entries)", r.contentType)
	}
	if r.token != "secret-token" {
		t.Errorf("dapr-api-token = %q, want secret-token", r.token)
	}

	var body []wireEntry
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s is not a JSON list of entries: %v", r.body, err)
	}
	if len(body) != len(entries) {
		t.Fatalf("body has %d entries, want %d: %s", len(body), len(entries), r.body)
	}
	for i, e := range entries {
		w := body[i]
		if w.EntryID != e.ID {
			t.Errorf("#%d entryId = %q, want %q", i, w.EntryID, e.ID)
		}
		// The event is the CloudEvent itself (an object), not a string.
		if len(w.Event) == 0 || w.Event[0] != '{' || !sameJSON(t, w.Event, e.Event) {
			t.Errorf("#%d event = %s, want %s", i, w.Event, e.Event)
		}
		// application/json would make Dapr wrap our CloudEvent in a second one.
		if w.ContentType != ContentTypeCloudEvent {
			t.Errorf("#%d contentType = %q, want %q", i, w.ContentType, ContentTypeCloudEvent)
		}
		if !reflect.DeepEqual(w.Metadata, e.Metadata) || w.Metadata["partitionKey"] != e.Metadata["partitionKey"] {
			t.Errorf("#%d metadata = %v, want partitionKey %s", i, w.Metadata, e.Metadata["partitionKey"])
		}
	}
	// Nothing but the four fields Dapr knows.
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	for i, m := range raw {
		for k := range m {
			switch k {
			case "entryId", "event", "contentType", "metadata":
			default:
				t.Errorf("#%d has unexpected field %q", i, k)
			}
		}
	}
}

func TestBulkPublishCloudEventsWithoutTokenOrMetadata(t *testing.T) {
	srv, requests := bulkSidecar(t, http.StatusNoContent, "")
	entries := []BulkEntry{{ID: "a", Event: json.RawMessage(`{"id":"a"}`)}}
	if err := New(srv.URL+"/", "").BulkPublishCloudEvents(context.Background(), "p", "t", entries); err != nil {
		t.Fatalf("BulkPublishCloudEvents: %v", err)
	}
	if len(requests()) != 1 {
		t.Fatalf("%d requests to the sidecar, want 1", len(requests()))
	}
	r := requests()[0]
	if r.path != "/v1.0-alpha1/publish/bulk/p/t" {
		t.Errorf("path = %s (a trailing slash of the base URL must not double)", r.path)
	}
	if r.hasToken {
		t.Error("dapr-api-token header sent although no token is configured")
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil || len(raw) != 1 {
		t.Fatalf("body = %s: %v", r.body, err)
	}
	if _, ok := raw[0]["metadata"]; ok {
		t.Errorf("entry without metadata sent %s, want no metadata member", r.body)
	}
}

func TestBulkPublishCloudEventsAnswers(t *testing.T) {
	// What Dapr answers when some entries could not be published.
	const failed = `{"failedEntries":[{"entryId":"id-2","error":"kafka: broker not available"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}`
	tests := []struct {
		name     string
		status   int
		answer   string
		wantErr  bool
		wantBody string // a part of the error's Body
	}{
		{"204 is success (what Dapr answers)", http.StatusNoContent, "", false, ""},
		{"200 is success too", http.StatusOK, "", false, ""},
		{"500 with failed entries", http.StatusInternalServerError, failed, true, `"entryId":"id-2"`},
		{"403 topic not allowed", http.StatusForbidden, `{"errorCode":"ERR_PUBSUB_FORBIDDEN"}`, true, "ERR_PUBSUB_FORBIDDEN"},
		{"404 no such pubsub", http.StatusNotFound, `{"errorCode":"ERR_PUBSUB_NOT_FOUND"}`, true, "ERR_PUBSUB_NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, requests := bulkSidecar(t, tt.status, tt.answer)
			err := New(srv.URL, "tok").BulkPublishCloudEvents(context.Background(), "kafka-pubsub", "reminders", twoEntries())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(requests()) != 1 {
				t.Errorf("%d requests, want 1 (no retry inside the client)", len(requests()))
			}
			if !tt.wantErr {
				return
			}
			var de *Error
			if !errors.As(err, &de) || de.Status != tt.status {
				t.Fatalf("err = %#v, want *Error with status %d", err, tt.status)
			}
			if !strings.Contains(de.Body, tt.wantBody) {
				t.Errorf("error body = %q, want it to contain %q", de.Body, tt.wantBody)
			}
			if !strings.Contains(err.Error(), "bulk publish reminders") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestBulkPublishCloudEventsInvalidEvent(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/metadata" {
			calls.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	entries := []BulkEntry{{ID: "a", Event: json.RawMessage(`{not json`)}}
	err := New(srv.URL, "").BulkPublishCloudEvents(context.Background(), "p", "t", entries)
	if err == nil {
		t.Fatal("bulk publish of an invalid event succeeded")
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d publish requests to the sidecar, want none", n)
	}
}

func TestBulkPublishUnreachableSidecar(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := New(srv.URL, "").BulkPublishCloudEvents(context.Background(), "p", "t", twoEntries())
	if err == nil {
		t.Fatal("bulk publish to a stopped sidecar succeeded")
	}
}

func TestBulkPublishCanceled(t *testing.T) {
	srv, requests := bulkSidecar(t, http.StatusNoContent, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New(srv.URL, "").BulkPublishCloudEvents(ctx, "p", "t", twoEntries())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(requests()) != 0 {
		t.Errorf("%d requests with a canceled context, want none", len(requests()))
	}
}

// BulkSize adds up to the exact length of the request the sidecar reads,
// escapes included, so that a caller can keep a bulk under MaxBulkBytes.
func TestBulkSizeIsTheRequestLength(t *testing.T) {
	tests := []struct {
		name    string
		entries []BulkEntry
	}{
		{"two plain entries", twoEntries()},
		{"one entry without metadata", []BulkEntry{{ID: "a", Event: json.RawMessage(`{"id":"a"}`)}}},
		// < > & and U+2028 are escaped in the request, and spaces dropped:
		// the request is not the stored event's length.
		{"escaped and compacted", []BulkEntry{{ID: "x", Event: json.RawMessage("{\"id\": \"x\", \"data\": {\"t\": \"<a & b>\u2028\"}}"),
			Metadata: map[string]string{"partitionKey": "7"}}}},
		{"a large event", []BulkEntry{{ID: "big", Event: json.RawMessage(`{"id":"big","data":"` + strings.Repeat("<", 100_000) + `"}`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, requests := bulkSidecar(t, http.StatusNoContent, "")
			if err := New(srv.URL, "").BulkPublishCloudEvents(context.Background(), "p", "t", tt.entries); err != nil {
				t.Fatal(err)
			}
			want := 1
			for _, e := range tt.entries {
				want += BulkSize(e)
			}
			if got := len(requests()[0].body); got != want {
				t.Errorf("request of %d bytes, BulkSize adds up to %d", got, want)
			}
		})
	}
}

func TestMaxBulkBytesUnderDaprdLimit(t *testing.T) {
	// daprd 1.18.2's default --max-body-size (runtime.DefaultMaxRequestBodySize).
	const daprdDefault = 4 << 20
	if MaxBulkBytes > daprdDefault/2 {
		t.Errorf("MaxBulkBytes = %d, want well under daprd's %d", MaxBulkBytes, daprdDefault)
	}
}

// A failed bulk says which entries were certainly not published: all of
// them when the sidecar refused the request or was not listening, those of
// daprd's failedEntries when the broker refused some; none when the
// outcome is unknown.
func TestNotPublished(t *testing.T) {
	entries := []BulkEntry{{ID: "a", Event: []byte(`{}`)}, {ID: "b", Event: []byte(`{}`)}, {ID: "c", Event: []byte(`{}`)}}
	for _, tt := range []struct {
		name    string
		status  int
		body    string
		want    []string
		certain bool
	}{
		{"accepted", 204, ``, nil, false},
		{"broker refused some", 500, `{"failedEntries":[{"entryId":"b","error":"kafka: broken pipe"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}`, []string{"b"}, true},
		{"broker refused all", 500, `{"failedEntries":[{"entryId":"a"},{"entryId":"b"},{"entryId":"c"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}`, []string{"a", "b", "c"}, true},
		{"topic not allowed", 403, `{"errorCode":"ERR_PUBSUB_FORBIDDEN"}`, []string{"a", "b", "c"}, true},
		{"unknown pubsub", 404, `{"errorCode":"ERR_PUBSUB_NOT_FOUND"}`, []string{"a", "b", "c"}, true},
		{"a 500 that lists nothing", 500, `{"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}`, nil, false},
		{"a 500 that is not JSON", 500, `upstream timeout`, nil, false},
		{"a gateway timeout", 504, ``, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			err := New(srv.URL, "").BulkPublishCloudEvents(context.Background(), "p", "t", entries)
			if (err == nil) != (tt.status/100 == 2) {
				t.Fatalf("err = %v", err)
			}
			got, certain := NotPublished(err)
			if certain != tt.certain || !slices.Equal(got, tt.want) {
				t.Errorf("NotPublished = %v, %v; want %v, %v", got, certain, tt.want, tt.certain)
			}
			var de *Error
			if err != nil && !errors.As(err, &de) {
				t.Errorf("the error does not carry the sidecar's answer: %v", err)
			}
		})
	}
	t.Run("sidecar not listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = New("http://"+addr, "").BulkPublishCloudEvents(context.Background(), "p", "t", entries)
		if got, certain := NotPublished(err); !certain || len(got) != 3 {
			t.Errorf("NotPublished = %v, %v (err %v); want all, certain", got, certain, err)
		}
	})
}

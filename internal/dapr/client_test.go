package dapr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPublishCloudEvent(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"204 is success (what Dapr answers)", http.StatusNoContent, false},
		{"200 is success too", http.StatusOK, false},
		{"403 topic not allowed", http.StatusForbidden, true},
		{"404 no such pubsub", http.StatusNotFound, true},
		{"500 broker down", http.StatusInternalServerError, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *http.Request
			var body []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				body, _ = io.ReadAll(r.Body)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"errorCode":"ERR"}`)
			}))
			defer srv.Close()
			c := New(srv.URL, "secret-token")
			err := c.PublishCloudEvent(context.Background(), "kafka-pubsub", "task-events", []byte(`{"id":"1"}`),
				map[string]string{"partitionKey": "42"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var de *Error
			if tt.wantErr && (!errors.As(err, &de) || de.Status != tt.status) {
				t.Errorf("err = %#v, want *Error with status %d", err, tt.status)
			}
			if got.Method != http.MethodPost || got.URL.Path != "/v1.0/publish/kafka-pubsub/task-events" {
				t.Errorf("request = %s %s", got.Method, got.URL.Path)
			}
			if got.URL.Query().Get("metadata.partitionKey") != "42" {
				t.Errorf("query = %s, want metadata.partitionKey=42", got.URL.RawQuery)
			}
			// application/json would make Dapr wrap our CloudEvent in a second one.
			if ct := got.Header.Get("Content-Type"); ct != ContentTypeCloudEvent {
				t.Errorf("Content-Type = %q, want %q", ct, ContentTypeCloudEvent)
			}
			if got.Header.Get("dapr-api-token") != "secret-token" {
				t.Error("dapr-api-token header missing")
			}
			if string(body) != `{"id":"1"}` {
				t.Errorf("body = %s", body)
			}
		})
	}
}

func TestPublishUnreachableSidecar(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := New(srv.URL, "").PublishCloudEvent(context.Background(), "p", "t", []byte(`{}`), nil)
	if err == nil {
		t.Fatal("publish to a stopped sidecar succeeded")
	}
}

// Package dapr is a small client for the Dapr sidecar's HTTP API (bulk
// publish, with a second copy of the publishes that a broken broker
// connection may have lost on RabbitMQ; service invocation, state and
// state transactions) and the
// subscriber's side of it (programmatic subscriptions, delivery statuses,
// capped event bodies). Services talk to each other and to the broker only
// through it.
package dapr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/evolution-todo/todo/internal/telemetry"
)

// ContentTypeCloudEvent makes the sidecar publish a body as the CloudEvent
// it is, instead of wrapping it in a second envelope.
const ContentTypeCloudEvent = "application/cloudevents+json"

// Client calls one Dapr sidecar. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
	log   *slog.Logger // see WithLog
	doubt doubt        // see BulkPublishCloudEvents
}

// New returns a client for the sidecar at baseURL (e.g.
// "http://127.0.0.1:3500"). apiToken, when not empty, is sent as the
// dapr-api-token header that a sidecar started with DAPR_API_TOKEN requires.
func New(baseURL, apiToken string) *Client {
	return &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: apiToken,
		// The transport puts the caller's traceparent on every call, so the
		// sidecar continues the trace into the broker and the callee.
		http: &http.Client{Timeout: 15 * time.Second, Transport: telemetry.Transport(sidecarTransport())},
	}
}

// MaxConnsPerSidecar bounds the idle connections kept to the sidecar. The
// callers run up to about this many calls at once (recurring-service one
// next-occurrence call per partition of task-events, 48 with the dev
// broker; the relay's bulks; web-app's pages), and Go's default transport
// keeps only 2 idle per host: every call past the second opened a new
// connection, and each one closed afterwards left a socket in TIME_WAIT.
const MaxConnsPerSidecar = 64

// sidecarTransport is the transport of every call to the sidecar, which is
// one host on the loopback: no proxy, idle connections sized for the
// callers' concurrency.
func sidecarTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns = MaxConnsPerSidecar
	t.MaxIdleConnsPerHost = MaxConnsPerSidecar
	return t
}

// Error is a non-2xx answer from the sidecar.
type Error struct {
	Op     string
	Status int
	Body   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("dapr: %s: sidecar answered %d: %s", e.Op, e.Status, e.Body)
}

func (c *Client) auth(req *http.Request) {
	if c.token != "" {
		req.Header.Set("dapr-api-token", c.token)
	}
}

func (c *Client) do(ctx context.Context, op, method, u, contentType string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("dapr: %s: %w", op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("dapr: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &Error{Op: op, Status: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
}

// BulkEntry is one event of a bulk publish.
type BulkEntry struct {
	ID       string            // unique within the request
	Event    json.RawMessage   // a complete CloudEvent
	Metadata map[string]string // e.g. partitionKey
}

// bulkPublish is one bulk publish call to the sidecar.
func (c *Client) bulkPublish(ctx context.Context, pubsub, topic string, entries []BulkEntry) error {
	body := make([]bulkEntry, len(entries))
	for i, e := range entries {
		body[i] = e.wire()
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("dapr: bulk publish %s: encode: %w", topic, err)
	}
	u := c.base + "/v1.0-alpha1/publish/bulk/" + url.PathEscape(pubsub) + "/" + url.PathEscape(topic)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("dapr: bulk publish %s: %w", topic, err)
	}
	req.Header.Set("Content-Type", "application/json")
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			// Nothing reached the sidecar.
			return &BulkError{Err: fmt.Errorf("dapr: bulk publish %s: %w", topic, err), NotPublished: entryIDs(entries)}
		}
		return fmt.Errorf("dapr: bulk publish %s: %w", topic, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return bulkError(topic, resp, entries)
}

package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Bulk defaults.
const (
	DefaultBulkMessages = 100
	DefaultBulkAwait    = 5 * time.Millisecond
)

func (b *Bulk) wire() *dapr.BulkSubscribe {
	if b == nil {
		return nil
	}
	n, wait := b.MaxMessages, b.MaxAwait
	if n <= 0 {
		n = DefaultBulkMessages
	}
	if wait <= 0 {
		wait = DefaultBulkAwait
	}
	return &dapr.BulkSubscribe{Enabled: true, MaxMessagesCount: n, MaxAwaitDurationMs: max(int(wait.Milliseconds()), 1)}
}

// maxBulkBytes bounds a bulk's body: every entry at the largest event, and
// room for the envelope. Only the sidecar (behind the app token) sends it.
func (b *Bulk) maxBulkBytes() int64 {
	return int64(b.wire().MaxMessagesCount)*(dapr.MaxEventBytes+1024) + 64*1024
}

// deliverBulk answers a bulk delivery: each entry is read and handled as
// one delivery would be (its status, its log line and count), and the
// answer lists every entry's status.
func (a *App) deliverBulk(s Subscription) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var bulk struct {
			Entries *[]dapr.BulkDeliveryEntry `json:"entries"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.Bulk.maxBulkBytes()))
		if err == nil && (json.Unmarshal(body, &bulk) != nil || bulk.Entries == nil) {
			// One event, not a bulk: what a sidecar sends for a declarative
			// subscription without bulkSubscribe, say. Handled as one.
			d := &Delivery{Topic: s.Topic}
			var status dapr.Status
			switch {
			case len(body) > dapr.MaxEventBytes && s.AckUnreadable:
				d.Ignore()
				status = dapr.Success
			case len(body) > dapr.MaxEventBytes:
				status, err = dapr.Drop, fmt.Errorf("event over %d bytes", dapr.MaxEventBytes)
			default:
				status, err = a.handleOne(r.Context(), s, d, body)
			}
			a.record(httpx.TraceID(r), s, d, status, err, time.Since(start))
			dapr.WriteStatus(w, status)
			return
		}
		if err != nil {
			// Over the bound: the sidecar retries, then dead-letters the
			// entries it holds.
			a.Log.Error("unreadable bulk delivery", "app", a.Name, "topic", s.Topic, "err", err)
			httpx.WriteError(w, http.StatusBadRequest, "invalid_bulk", "the body is not a bulk delivery")
			return
		}
		entries := *bulk.Entries
		n := len(entries)
		ds := make([]*Delivery, n)
		statuses := make([]dapr.Status, n)
		errs := make([]error, n)
		ctxs := make([]context.Context, n)
		var ready []int // entries whose event could be read
		for i, e := range entries {
			d := &Delivery{Topic: s.Topic}
			ds[i], ctxs[i] = d, r.Context()
			switch {
			case len(e.Event) > dapr.MaxEventBytes && s.AckUnreadable:
				d.Ignore()
				statuses[i] = dapr.Success
			case len(e.Event) > dapr.MaxEventBytes:
				statuses[i], errs[i] = dapr.Drop, fmt.Errorf("event over %d bytes", dapr.MaxEventBytes)
			default:
				if err := d.read(s, e.Event); err != nil {
					statuses[i], errs[i] = dapr.Drop, err
					continue
				}
				if tp, ok := d.CloudEvent.Extensions()["traceparent"].(string); ok {
					ctxs[i] = telemetry.Extract(r.Context(), tp)
				}
				ready = append(ready, i)
			}
		}
		a.handleBulk(r.Context(), s, ds, ctxs, ready, statuses, errs)
		took := time.Since(start)
		out := make([]dapr.BulkStatus, n)
		for i, e := range entries {
			out[i] = dapr.BulkStatus{EntryID: e.EntryID, Status: statuses[i]}
			a.record(traceIDOf(ctxs[i], r), s, ds[i], statuses[i], errs[i], took)
		}
		dapr.WriteBulkStatuses(w, out)
	}
}

// handleBulk runs the route's handler on the ready entries and fills in
// their statuses.
func (a *App) handleBulk(ctx context.Context, s Subscription, ds []*Delivery, ctxs []context.Context, ready []int,
	statuses []dapr.Status, errs []error,
) {
	if len(ready) == 0 {
		return
	}
	if s.HandleBulk != nil {
		batch := make([]*Delivery, len(ready))
		for j, i := range ready {
			batch[j] = ds[i]
		}
		res := s.HandleBulk(ctx, batch)
		for j, i := range ready {
			var err error
			if j < len(res) {
				err = res[j]
			} else {
				err = fmt.Errorf("bulk handler gave %d results for %d events", len(res), len(ready))
			}
			statuses[i], errs[i] = statusOf(err)
		}
		return
	}
	workers := max(s.Bulk.Concurrency, 1)
	if workers == 1 {
		for _, i := range ready {
			statuses[i], errs[i] = statusOf(s.Handle(ctxs[i], ds[i]))
		}
		return
	}
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, i := range ready {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			statuses[i], errs[i] = statusOf(s.Handle(ctxs[i], ds[i]))
		}()
	}
	wg.Wait()
}

// traceIDOf is the trace id of an entry's context, or the request's.
func traceIDOf(ctx context.Context, r *http.Request) string {
	if id := telemetry.TraceIDOf(ctx); id != "" {
		return id
	}
	return httpx.TraceID(r)
}

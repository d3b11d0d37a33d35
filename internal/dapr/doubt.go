package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Dapr 1.18's pubsub.rabbitmq (components-contrib v1.18.3,
// pubsub/rabbitmq/rabbitmq.go, publishSync) reports a publish as done when
// the broker's confirmation never came: it logs "did not receive
// confirmation of publishing" and returns nil. That is what happens to the
// publish in flight when the sidecar's connection to the broker breaks, so
// the sidecar answers success for an event that may never have reached a
// queue. The component publishes one message at a time per sidecar (it
// holds its channel's lock until the confirmation), and on a broken
// connection it waits reconnectWaitSeconds (3 s by default) before it
// connects again and retries: so the publish that follows the lost one is
// slow, or fails.
//
// The client therefore doubts the calls that completed just before a slow
// or failed bulk publish on such a component, and publishes them again.
// Consumers handle an event id once, so a second copy of an event that did
// arrive costs a little work and changes nothing.

// unconfirmedAsDone are the component types that may report an
// unconfirmed publish as done.
var unconfirmedAsDone = map[string]bool{"pubsub.rabbitmq": true}

// DoubtAfter is how long a bulk publish on such a component may take before
// the client doubts the calls before it: below the component's default
// reconnect wait of 3 s, well above a bulk's usual time (milliseconds).
const DoubtAfter = 2500 * time.Millisecond

// doubtRecent is how many completed calls per affected component are kept
// to be published again: the callers have at most a few bulks in flight at
// once (the outbox relay one, reminder-service's sweep
// DefaultConcurrency). They hold at most doubtRecent × MaxBulkBytes of
// events, usually a few hundred KiB.
const doubtRecent = 8

// doubtPending bounds the doubted calls waiting to go again per component;
// past it the oldest are given up, with an error in the log. Reached only
// if publishing keeps being slow or failing round after round.
const doubtPending = 64

// doubtRounds is how many times one call publishes the doubted calls again
// when those copies are themselves slow (the connection broke again).
const doubtRounds = 3

// doubt is a client's memory of its recent bulk publishes, per component.
type doubt struct {
	mu    sync.Mutex
	comps map[string]*doubtState
	after time.Duration // DoubtAfter; shorter in tests
}

type doubtState struct {
	kind    string     // the component's type, once the sidecar said it
	recent  []bulkCall // the last doubtRecent calls that succeeded in time, oldest first
	pending []bulkCall // doubted calls not yet published again
}

type bulkCall struct {
	topic   string
	entries []BulkEntry
}

// affected says whether pubsub's component may report unconfirmed
// publishes as done. It asks the sidecar until it has an answer (once on
// every other broker), and counts a component as affected while it does
// not know.
func (c *Client) affected(ctx context.Context, pubsub string) bool {
	c.doubt.mu.Lock()
	st := c.doubt.state(pubsub)
	kind := st.kind
	c.doubt.mu.Unlock()
	if kind == "" {
		k, err := c.componentType(ctx, pubsub)
		if err != nil {
			c.logger().Debug("dapr: cannot read the pub/sub component's type; doubting slow publishes meanwhile", "pubsub", pubsub, "err", err)
			return true
		}
		c.doubt.mu.Lock()
		st.kind = k
		c.doubt.mu.Unlock()
		kind = k
	}
	return unconfirmedAsDone[kind]
}

func (d *doubt) state(pubsub string) *doubtState {
	if d.comps == nil {
		d.comps = map[string]*doubtState{}
	}
	st := d.comps[pubsub]
	if st == nil {
		st = &doubtState{}
		d.comps[pubsub] = st
	}
	return st
}

// BulkPublishCloudEvents publishes entries to topic in one call to the
// sidecar (Dapr's bulk publish API, which pubsub.kafka sends as one batch).
// It returns nil only when every entry was accepted; on a partial failure
// the caller retries the whole batch, so consumers must be idempotent (ours
// are, on the CloudEvent id). The caller bounds the request's size (see
// MaxBulkBytes and BulkSize).
//
// On a component that may report an unconfirmed publish as done (see
// unconfirmedAsDone), a call that fails (but not for want of a sidecar)
// or takes DoubtAfter or longer
// makes the client publish again the calls that completed just before it,
// and this one if it succeeded, before it returns; those copies are
// watched the same way. If they fail, the call returns an error (the
// caller retries it) and the doubted calls go first on the component's
// next call.
//
// NotPublished reads the error as about this call's entries only: all of
// them when the doubted calls failed before this one was sent, none (not
// certain) when they failed after it was accepted.
func (c *Client) BulkPublishCloudEvents(ctx context.Context, pubsub, topic string, entries []BulkEntry) error {
	if err := c.republishDoubted(ctx, pubsub); err != nil {
		return &BulkError{
			Err:          fmt.Errorf("dapr: bulk publish %s: not sent, since publishing the doubted events again failed: %s", topic, err.Error()),
			NotPublished: entryIDs(entries),
		}
	}
	if err := c.publishWatched(ctx, pubsub, bulkCall{topic: topic, entries: entries}); err != nil {
		return err
	}
	if err := c.republishDoubted(ctx, pubsub); err != nil {
		return fmt.Errorf("dapr: bulk publish %s was accepted, but publishing the doubted events again failed: %s", topic, err.Error())
	}
	return nil
}

// publishWatched is one bulk publish call. On an affected component it
// keeps the call among the recent ones when it succeeded in time, and
// otherwise doubts the recent ones and this one (if it succeeded).
func (c *Client) publishWatched(ctx context.Context, pubsub string, call bulkCall) error {
	start := time.Now()
	err := c.bulkPublish(ctx, pubsub, call.topic, call.entries)
	took := time.Since(start)
	// The type is asked for after the first call, not before it: a call
	// that cannot be encoded never reaches the sidecar.
	if !c.affected(ctx, pubsub) {
		return err
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		// The sidecar is down: this is not its broker connection, and the
		// calls it answered before are as good as they were.
		return err
	}
	c.doubt.mu.Lock()
	st := c.doubt.state(pubsub)
	if err == nil && took < c.doubtAfter() {
		st.recent = append(st.recent, call)
		if len(st.recent) > doubtRecent {
			st.recent = st.recent[len(st.recent)-doubtRecent:]
		}
		c.doubt.mu.Unlock()
		return nil
	}
	doubted := st.recent
	if err == nil {
		doubted = append(doubted, call)
	}
	st.recent = nil
	st.pending = append(st.pending, doubted...)
	dropped := c.doubt.bound(st)
	c.doubt.mu.Unlock()

	n := 0
	for _, d := range doubted {
		n += len(d.entries)
	}
	c.logger().Warn("dapr: a bulk publish was slow or failed, so the sidecar may have lost its broker connection; publishing the events just before it again",
		"pubsub", pubsub, "topic", call.topic, "took", took, "err", err, "events", n)
	if dropped > 0 {
		c.logger().Error("dapr: too many doubted publishes; the oldest are not published again", "pubsub", pubsub, "calls", dropped)
	}
	return err
}

// bound keeps at most doubtPending doubted calls, the newest, and returns
// how many it gave up. The caller holds d.mu.
func (d *doubt) bound(st *doubtState) int {
	n := len(st.pending) - doubtPending
	if n <= 0 {
		return 0
	}
	st.pending = slices.Clone(st.pending[n:])
	return n
}

// republishDoubted publishes pubsub's doubted calls again, oldest first,
// for at most doubtRounds rounds. What fails stays doubted.
func (c *Client) republishDoubted(ctx context.Context, pubsub string) error {
	for round := 0; ; round++ {
		c.doubt.mu.Lock()
		st := c.doubt.state(pubsub)
		calls := st.pending
		if len(calls) > 0 && round == doubtRounds {
			c.doubt.mu.Unlock()
			return fmt.Errorf("dapr: bulk publish: %d calls still doubted after %d rounds of publishing them again", len(calls), doubtRounds)
		}
		st.pending = nil
		c.doubt.mu.Unlock()
		if len(calls) == 0 {
			return nil
		}
		for i, call := range calls {
			if err := c.publishWatched(ctx, pubsub, call); err != nil {
				c.doubt.mu.Lock()
				st.pending = append(slices.Clone(calls[i:]), st.pending...)
				c.doubt.bound(st)
				c.doubt.mu.Unlock()
				return err
			}
		}
	}
}

func (c *Client) doubtAfter() time.Duration {
	if c.doubt.after > 0 {
		return c.doubt.after
	}
	return DoubtAfter
}

// componentType asks the sidecar for the type of its component name
// (e.g. "pubsub.rabbitmq"), from its metadata API.
func (c *Client) componentType(ctx context.Context, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1.0/metadata", nil)
	if err != nil {
		return "", fmt.Errorf("dapr: metadata: %w", err)
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("dapr: metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return "", &Error{Op: "metadata", Status: resp.StatusCode}
	}
	var md struct {
		Components []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"components"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return "", fmt.Errorf("dapr: metadata: %w", err)
	}
	for _, comp := range md.Components {
		if comp.Name == name {
			return comp.Type, nil
		}
	}
	return "", fmt.Errorf("dapr: metadata: %w", errNoComponent)
}

var errNoComponent = errors.New("no such component")

func (c *Client) logger() *slog.Logger {
	if c.log != nil {
		return c.log
	}
	return slog.New(slog.DiscardHandler)
}

// WithLog makes the client log what it does on its own (publishing doubted
// events again) to log, and returns it.
func (c *Client) WithLog(log *slog.Logger) *Client {
	c.log = log
	return c
}

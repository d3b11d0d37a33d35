// Package consumer is the inbound side of Dapr, beside the outbound client
// in package dapr: an app declares its subscriptions (topic, routing rule,
// dead-letter topic) and gives, for each, a function from a delivered event
// to an error. The package owns the rest: GET /dapr/subscribe, the app
// token check, the capped body, the CloudEvent envelope, the delivery
// status, the probes, the metrics and the one log line per event.
//
// A handler's error decides the status the sidecar gets:
//
//   - nil: SUCCESS, the event is handled (or was already: a duplicate);
//   - an error wrapped by Permanent: DROP, the event can never be handled
//     and the sidecar sends it to the subscription's dead-letter topic;
//   - any other error: RETRY, the sidecar redelivers it (resiliency
//     policy), then dead-letters it when the retries run out.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/events"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// Handler handles one delivered event.
type Handler func(ctx context.Context, d *Delivery) error

// Subscription is one route of a topic. Several subscriptions of the same
// topic are one Dapr subscription whose routing rules are tried in order;
// the one without Match is its default route.
type Subscription struct {
	Topic string
	// Match is a CEL expression over the CloudEvent (event.data...) that
	// routes the matching events to Path; empty for the default route.
	Match string
	// Path is the app route the sidecar POSTs the events to.
	Path string
	// DeadLetterTopic receives what this subscription drops or gives up
	// on. Every subscription has one, except those of a dead-letter topic
	// itself (NoDeadLetter).
	DeadLetterTopic string
	NoDeadLetter    bool
	// Raw hands the body to Handle as it is, without reading the
	// CloudEvent envelope: for routes that must take whatever arrives
	// (dead letters, events acknowledged unseen).
	Raw bool
	// AckUnreadable acknowledges a body that cannot be read (one over
	// dapr.MaxEventBytes) as ignored instead of dropping it: for a route
	// that acknowledges, unseen, events that are not its to judge.
	AckUnreadable bool
	// LogMessage is the message of the one line logged for each event
	// handled (e.g. "audit event").
	LogMessage string
	Handle     Handler
}

// Delivery is one event delivered to a subscription.
type Delivery struct {
	Topic string
	// ID is the CloudEvent id; effects are keyed on it. Empty on a Raw
	// route.
	ID string
	// Type is the event type (data.event_type), set by the typed adapters
	// (TaskEvents, Reminders) or the handler.
	Type string
	// Body is the delivered body; CloudEvent its envelope (not on Raw
	// routes).
	Body       []byte
	CloudEvent cloudevents.Event

	outcome string
	known   bool
	ignored bool
	attrs   []any
}

// Log adds attributes (slog key-value pairs) to the event's log line.
func (d *Delivery) Log(args ...any) { d.attrs = append(d.attrs, args...) }

// Outcome names what handling did, for the metrics and the log line
// ("stored", "duplicate", "delivered", ...; "handled" when not set).
func (d *Delivery) Outcome(outcome string) { d.outcome = outcome }

// Once records whether this delivery had the event's effect (first) or an
// earlier delivery of the same id had (a duplicate): the log line says
// duplicate, and the metrics count outcome or "duplicate".
func (d *Delivery) Once(first bool, outcome string) {
	d.Log("duplicate", !first)
	if first {
		d.Outcome(outcome)
	} else {
		d.Outcome("duplicate")
	}
}

// Ignore marks the event acknowledged without effect: of a type this
// version does not know (a newer producer's), not ours to handle nor to
// dead-letter. It is counted as "ignored" and logged as such.
func (d *Delivery) Ignore() { d.ignored = true }

// KnownType records whether Type is one of this version's, so that the
// metrics count the others as "unknown" and a producer cannot grow the
// label set.
func (d *Delivery) KnownType(known bool) { d.known = known }

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that redelivery cannot cure: the event is
// dropped to the dead-letter topic.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent reports whether err is, or wraps, a Permanent error.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Route is an app route other than a subscription's: an invocation route
// or an input binding, behind the same app token check.
type Route struct {
	Pattern string // a ServeMux pattern, e.g. "GET /tasks/{id}/history"
	Handler http.HandlerFunc
}

// App is the HTTP side of one Dapr app.
type App struct {
	Name     string // the app id, in log lines
	PubSub   string // the pub/sub component of every subscription
	AppToken string // required on every route but the probes ("" accepts any caller)
	Log      *slog.Logger
	// Telemetry counts requests and events; optional.
	Telemetry *telemetry.Metrics
	// Ready is the readiness check (nil: ready once serving).
	Ready         func(context.Context) error
	Subscriptions []Subscription
	Routes        []Route
}

// Handler returns the app's HTTP handler: the probes, and behind the app
// token GET /dapr/subscribe, the subscriptions' routes and the others.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	httpx.HandleProbes(mux, a.Ready)
	sidecar := http.NewServeMux()
	if len(a.Subscriptions) > 0 {
		subs := a.DaprSubscriptions()
		sidecar.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
			httpx.WriteJSON(w, http.StatusOK, subs)
		})
	}
	for _, s := range a.Subscriptions {
		sidecar.HandleFunc("POST "+s.Path, a.deliver(s))
	}
	for _, r := range a.Routes {
		sidecar.HandleFunc(r.Pattern, r.Handler)
	}
	mux.Handle("/", httpx.RequireAppToken(a.AppToken, sidecar))
	return a.Telemetry.Instrument(mux)
}

// DaprSubscriptions is the answer to GET /dapr/subscribe: one programmatic
// subscription per topic, its rules in declaration order. It panics on a
// declaration that cannot work (no dead-letter topic, two default routes
// or two dead-letter topics for one topic): a programming error.
func (a *App) DaprSubscriptions() []dapr.Subscription {
	var out []dapr.Subscription
	index := map[string]int{}
	for _, s := range a.Subscriptions {
		if s.DeadLetterTopic == "" && !s.NoDeadLetter {
			panic("consumer: subscription " + s.Topic + " " + s.Path + " has no dead-letter topic")
		}
		i, ok := index[s.Topic]
		if !ok {
			i = len(out)
			index[s.Topic] = i
			out = append(out, dapr.Subscription{PubSubName: a.PubSub, Topic: s.Topic, DeadLetterTopic: s.DeadLetterTopic})
		}
		sub := &out[i]
		if sub.DeadLetterTopic != s.DeadLetterTopic {
			panic("consumer: topic " + s.Topic + " has two dead-letter topics")
		}
		if s.Match == "" {
			if sub.Routes.Default != "" {
				panic("consumer: topic " + s.Topic + " has two default routes")
			}
			sub.Routes.Default = s.Path
			continue
		}
		sub.Routes.Rules = append(sub.Routes.Rules, dapr.Rule{Match: s.Match, Path: s.Path})
	}
	return out
}

func (a *App) deliver(s Subscription) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		d := &Delivery{Topic: s.Topic}
		status, err := a.handle(r, w, s, d)
		a.record(r, s, d, status, err, time.Since(start))
		dapr.WriteStatus(w, status)
	}
}

// handle reads and decodes the delivery and runs the handler.
func (a *App) handle(r *http.Request, w http.ResponseWriter, s Subscription, d *Delivery) (dapr.Status, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, dapr.MaxEventBytes))
	if err != nil && s.AckUnreadable {
		d.Ignore()
		return dapr.Success, nil
	}
	if err != nil {
		return dapr.Drop, fmt.Errorf("unreadable event (over %d bytes?): %w", dapr.MaxEventBytes, err)
	}
	d.Body = body
	if !s.Raw {
		ce, err := events.DecodeEnvelope(body)
		d.CloudEvent, d.ID = ce, ce.ID()
		if err != nil {
			// Effects are keyed on the id: an event without one is refused,
			// never stored under "".
			return dapr.Drop, Permanent(err)
		}
	}
	err = s.Handle(r.Context(), d)
	switch {
	case err == nil:
		return dapr.Success, nil
	case IsPermanent(err):
		return dapr.Drop, err
	default:
		return dapr.Retry, err
	}
}

// record counts the event and logs its one line.
func (a *App) record(r *http.Request, s Subscription, d *Delivery, status dapr.Status, err error, took time.Duration) {
	label := d.Type
	switch {
	case d.Type == "" && status == dapr.Drop:
		label = "malformed"
	case d.ignored || !d.known:
		label = "unknown"
	}
	outcome := d.outcome
	switch {
	case status == dapr.Drop:
		outcome = "dropped"
	case status == dapr.Retry:
		outcome = "retry"
	case d.ignored:
		outcome = "ignored"
	case outcome == "":
		outcome = "handled"
	}
	a.Telemetry.Event(s.Topic, label, outcome)

	args := append([]any{"app", a.Name, "topic", s.Topic, "event_id", d.ID, "event_type", d.Type}, d.attrs...)
	args = append(args, "outcome", outcome, "trace_id", httpx.TraceID(r), "duration_ms", float64(took.Microseconds())/1000)
	switch {
	case status == dapr.Drop:
		a.Log.Warn("event dropped to the dead-letter topic", append(args, "err", err)...)
	case status == dapr.Retry:
		a.Log.Error("event failed, asking for redelivery", append(args, "err", err)...)
	case d.ignored:
		a.Log.Info("event of an unknown type, acknowledged", args...)
	default:
		msg := s.LogMessage
		if msg == "" {
			msg = "event handled"
		}
		a.Log.Info(msg, args...)
	}
}

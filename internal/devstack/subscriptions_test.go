package devstack_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/evolution-todo/todo/internal/audit"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/notifier"
	"github.com/evolution-todo/todo/internal/recurring"
	"github.com/evolution-todo/todo/internal/reminder"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/web"
)

const appToken = "app-token"

// appPorts build each app's app-port handler (what its sidecar calls) as
// its binary does, from its configuration's defaults plus what the
// launcher sets, without a database or a sidecar: building one neither
// connects nor calls anything. An app of apps.json without an entry here
// fails TestSubscriptionsAreThoseOfAppsJSON.
var appPorts = map[string]func(t *testing.T) http.Handler{
	"todo-api": func(*testing.T) http.Handler {
		// Its sidecar's answer is a route of the API server; the store is
		// not called for it.
		return api.New(nil, nil, nil, slog.New(slog.DiscardHandler), api.Config{AppToken: appToken}).AppHandler()
	},
	"audit-service": func(t *testing.T) http.Handler {
		cfg := load(t, audit.LoadConfig, nil)
		// audit.New opens and migrates its database; the handler is what
		// it builds on it. The store is not called for the subscriptions.
		h := &audit.Handler{Store: struct{ audit.Recorder }{}, Log: slog.New(slog.DiscardHandler),
			PubSub: cfg.PubSub, AppToken: cfg.AppAPIToken}
		return h.Routes()
	},
	"recurring-service":    func(t *testing.T) http.Handler { return build(t, recurring.New, load(t, recurring.LoadConfig, nil)) },
	"reminder-service":     func(t *testing.T) http.Handler { return build(t, reminder.New, load(t, reminder.LoadConfig, nil)) },
	"notification-service": func(t *testing.T) http.Handler { return build(t, notifier.New, load(t, notifier.LoadConfig, nil)) },
	"web-app": func(t *testing.T) http.Handler {
		cfg := load(t, web.LoadConfig, map[string]string{"DEV_SIGNIN": "true",
			"COOKIE_KEYS": "0123456789abcdef0123456789abcdef", "API_TOKEN_KEYS": devstack.NewSigningKey()})
		return build(t, web.New, cfg)
	},
}

func load[C any](t *testing.T, loadConfig func(map[string]string) (C, error), env map[string]string) C {
	t.Helper()
	environ := map[string]string{"APP_API_TOKEN": appToken}
	for k, v := range env {
		environ[k] = v
	}
	cfg, err := loadConfig(environ)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func build[C any](t *testing.T, newApp func(context.Context, C, *slog.Logger, *telemetry.Metrics) (service.Handlers, func(), error), cfg C) http.Handler {
	t.Helper()
	h, stop, err := newApp(t.Context(), cfg, slog.New(slog.DiscardHandler), telemetry.NewMetrics("test"))
	if err != nil {
		t.Fatal(err)
	}
	if stop != nil {
		t.Cleanup(stop)
	}
	return h.App
}

// subscriptions asks h for its subscriptions as its sidecar does: GET
// /dapr/subscribe with the app token. 404: none.
func subscriptions(t *testing.T, h http.Handler) []dapr.Subscription {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/dapr/subscribe", nil)
	req.Header.Set("dapr-api-token", appToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code == http.StatusNotFound {
		return nil
	}
	var subs []dapr.Subscription
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /dapr/subscribe: %d %s", rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &subs); err != nil {
		t.Fatalf("GET /dapr/subscribe: %v", err)
	}
	return subs
}

// sortedTopics is a component -> topics map with each list sorted, empty
// lists dropped: what subscribing means to the sidecar.
func sortedTopics(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for comp, topics := range m {
		if len(topics) > 0 {
			out[comp] = slices.Sorted(slices.Values(topics))
		}
	}
	return out
}

// TestSubscriptionsAreThoseOfAppsJSON: the topics each app subscribes to
// in its code (its GET /dapr/subscribe answer, per pub/sub component) are
// exactly those apps.json lists for it, from which the components' scopes
// are checked (deploy/composecheck). A topic added in the code and not in
// apps.json would be refused by the sidecar at run time. Every dead-letter
// topic a subscription names is kept by an app of apps.json (subscribed on
// the same component), and its sidecar may publish it.
func TestSubscriptionsAreThoseOfAppsJSON(t *testing.T) {
	subscribed := map[string]bool{} // component + " " + topic
	for _, a := range devstack.Apps {
		for comp, topics := range a.Subscribes {
			for _, tp := range topics {
				subscribed[comp+" "+tp] = true
			}
		}
	}
	for _, a := range devstack.Apps {
		t.Run(a.ID, func(t *testing.T) {
			newHandler, ok := appPorts[a.ID]
			if !ok {
				t.Fatalf("no handler builder for %s in appPorts: add one, so that its subscriptions are checked", a.ID)
			}
			got := map[string][]string{}
			for _, s := range subscriptions(t, newHandler(t)) {
				got[s.PubSubName] = append(got[s.PubSubName], s.Topic)
				if s.DeadLetterTopic == "" {
					continue
				}
				if !subscribed[s.PubSubName+" "+s.DeadLetterTopic] {
					t.Errorf("%s %s: dead-letter topic %s: no app of apps.json subscribes to it on %s: dead letters would be lost",
						s.PubSubName, s.Topic, s.DeadLetterTopic, s.PubSubName)
				}
				if pub, listed := a.Publishes[s.PubSubName]; listed && !slices.Contains(pub, s.DeadLetterTopic) {
					t.Errorf("%s %s: apps.json's publishes of %s on %s (%v) leaves out its dead-letter topic %s: its sidecar could not publish it",
						s.PubSubName, s.Topic, a.ID, s.PubSubName, pub, s.DeadLetterTopic)
				}
			}
			got, want := sortedTopics(got), sortedTopics(a.Subscribes)
			for _, comp := range slices.Sorted(func(yield func(string) bool) {
				for c := range got {
					yield(c)
				}
				for c := range want {
					if _, dup := got[c]; !dup {
						yield(c)
					}
				}
			}) {
				if !slices.Equal(got[comp], want[comp]) {
					t.Errorf("%s subscribes on %s to %v (GET /dapr/subscribe); apps.json says %v", a.ID, comp, got[comp], want[comp])
				}
			}
		})
	}
	for id := range appPorts {
		if _, ok := devstack.AppByID(id); !ok {
			t.Errorf("appPorts builds %s, which is no app of apps.json", id)
		}
	}
}

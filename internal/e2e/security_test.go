package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Every sidecar refuses calls without the Dapr API token; every app refuses
// calls on its sidecar-only routes without the app API token; topic scoping
// refuses publishes from the wrong app.
func TestDaprTokensAndTopicScoping(t *testing.T) {
	e := startSystem(t)
	call := func(method, url, token, tokenHeader, body string) int {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, url, rd)
		if token != "" {
			req.Header.Set(tokenHeader, token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("sidecars require DAPR_API_TOKEN", func(t *testing.T) {
		for name, inst := range e.sys.Instances {
			url := inst.Sidecar.HTTPEndpoint() + "/v1.0/metadata"
			if got := call("GET", url, "", "", ""); got != http.StatusUnauthorized {
				t.Errorf("%s sidecar without token: %d, want 401", name, got)
			}
			if got := call("GET", url, "wrong", "dapr-api-token", ""); got != http.StatusUnauthorized {
				t.Errorf("%s sidecar with a wrong token: %d, want 401", name, got)
			}
			if got := call("GET", url, e.sys.DaprToken, "dapr-api-token", ""); got != http.StatusOK {
				t.Errorf("%s sidecar with the token: %d, want 200", name, got)
			}
		}
		status, _ := e.publishVia("todo-api", "task-events", []byte(`{}`), "")
		if status != http.StatusUnauthorized {
			t.Errorf("publish without token: %d, want 401", status)
		}
	})

	t.Run("apps require APP_API_TOKEN on sidecar routes", func(t *testing.T) {
		routes := map[string][][2]string{
			"todo-api": {{"GET", "/internal/reminders/due"}, {"POST", "/internal/tasks/1/next-occurrence"},
				{"POST", "/internal/reminders/sent"}, {"POST", "/internal/reminders/released"}, {"GET", "/dapr/subscribe"}},
			"audit-service":        {{"GET", "/dapr/subscribe"}, {"POST", "/events/task-events"}, {"GET", "/tasks/1/history"}, {"GET", "/dead-letters"}},
			"recurring-service":    {{"GET", "/dapr/subscribe"}, {"POST", "/events/task-completed"}},
			"reminder-service":     {{"POST", "/reminder-cron"}},
			"notification-service": {{"GET", "/dapr/subscribe"}, {"POST", "/events/reminders"}, {"GET", "/inbox?user_id=alice"}, {"POST", "/inbox/read"}},
			"web-app":              {{"GET", "/dapr/subscribe"}, {"POST", "/events/task-events"}, {"POST", "/events/reminders"}, {"GET", "/.well-known/jwks.json"}},
		}
		for app, list := range routes {
			inst := e.sys.Instances[app]
			// Every app has its own token: another app's is refused.
			other := e.sys.AppToken("audit-service")
			if app == "audit-service" {
				other = e.sys.AppToken("todo-api")
			}
			for _, r := range list {
				if got := call(r[0], inst.AppURL()+r[1], "", "", "{}"); got != http.StatusUnauthorized {
					t.Errorf("%s %s %s without app token: %d, want 401", app, r[0], r[1], got)
				}
				if got := call(r[0], inst.AppURL()+r[1], "wrong", "dapr-api-token", "{}"); got != http.StatusUnauthorized {
					t.Errorf("%s %s %s with a wrong app token: %d, want 401", app, r[0], r[1], got)
				}
				if got := call(r[0], inst.AppURL()+r[1], other, "dapr-api-token", "{}"); got != http.StatusUnauthorized {
					t.Errorf("%s %s %s with another app's token: %d, want 401", app, r[0], r[1], got)
				}
				// Nor are they on the public port, whatever token comes.
				if inst.URL() != "" {
					if got := call(r[0], inst.URL()+r[1], e.sys.AppToken(app), "dapr-api-token", "{}"); got != http.StatusNotFound {
						t.Errorf("%s %s %s on the public port: %d, want 404", app, r[0], r[1], got)
					}
				}
			}
			// The control: with the token the route is reached.
			r := list[0]
			if got := call(r[0], inst.AppURL()+r[1], e.sys.AppToken(app), "dapr-api-token", ""); got == http.StatusUnauthorized {
				t.Errorf("%s %s %s with the app token: 401", app, r[0], r[1])
			}
		}
	})

	t.Run("topic scoping", func(t *testing.T) {
		ce := []byte(`{"specversion":"1.0","id":"scope-1","source":"e2e","type":"t","datacontenttype":"application/json","data":{}}`)
		refused := []struct{ app, topic string }{
			{"audit-service", "task-events"},
			{"recurring-service", "task-events"},
			{"notification-service", "reminders"},
			{"todo-api", "reminders"},
			{"reminder-service", "task-events"},
		}
		for _, r := range refused {
			status, answer := e.publishVia(r.app, r.topic, ce, e.sys.DaprToken)
			if status != http.StatusForbidden {
				t.Errorf("%s publishing %s: %d %s, want 403", r.app, r.topic, status, answer)
			}
		}
		for app, topic := range map[string]string{"todo-api": "task-events", "reminder-service": "reminders"} {
			malformed := []byte(`{"specversion":"1.0","id":"scope-ok-` + app + `","source":"e2e","type":"t","datacontenttype":"application/json","data":{}}`)
			if status, answer := e.publishVia(app, topic, malformed, e.sys.DaprToken); status/100 != 2 {
				t.Errorf("%s publishing %s: %d %s, want 2xx", app, topic, status, answer)
			}
		}
	})
}

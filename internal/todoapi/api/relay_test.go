package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/contract/notifierapi"
	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/store"
)

// invocation is one call the API made to another app.
type invocation struct {
	AppID, HTTPMethod, Method string
	Query                     url.Values
	Body                      any
}

// recordingInvoker records calls and answers with resp/err.
type recordingInvoker struct {
	mu    sync.Mutex
	calls []invocation
	resp  dapr.Response
	err   error
}

func (r *recordingInvoker) Invoke(_ context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, invocation{appID, httpMethod, method, query, body})
	return r.resp, r.err
}

// The relayed routes send the other app only canonical ids and checked
// values: the method is built from a parsed task id or a constant, the user
// is the token's and travels in the query or body, and anything else is a
// 4xx before any call.
func TestRelayedRoutesSendOnlyCheckedValues(t *testing.T) {
	v, err := auth.NewVerifier(jwtCfg)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pgtest.NewPool(t))
	inv := &recordingInvoker{resp: dapr.Response{Status: 200, Body: []byte(`{}`)}}
	srv := httptest.NewServer(api.New(st, v, inv, slog.New(slog.NewTextHandler(io.Discard, nil)),
		api.Config{AuditAppID: "audit-service", NotifierAppID: "notification-service"}).PublicHandler())
	t.Cleanup(srv.Close)
	c := &client{t: t, url: srv.URL}
	alice := token(t, "alice")
	created := c.do("POST", "/api/tasks", alice, `{"title":"mine"}`)
	id := int64(created.json(t)["id"].(float64))
	const n = "0b6f3c1e-2b9a-5f0e-9a57-5c0de1e7a001"

	tests := []struct {
		method, target string
		want           *invocation // nil: refused with wantStatus before any call
		wantStatus     int
	}{
		{"GET", fmt.Sprintf("/api/tasks/%d/history", id),
			&invocation{"audit-service", "GET", fmt.Sprintf("tasks/%d/history", id), url.Values{}, nil}, 200},
		{"GET", fmt.Sprintf("/api/tasks/%d/history?limit=7&cursor=abc_-9", id),
			&invocation{"audit-service", "GET", fmt.Sprintf("tasks/%d/history", id), url.Values{"limit": {"7"}, "cursor": {"abc_-9"}}, nil}, 200},
		{"GET", fmt.Sprintf("/api/tasks/%d/history?limit=007", id),
			&invocation{"audit-service", "GET", fmt.Sprintf("tasks/%d/history", id), url.Values{"limit": {"7"}}, nil}, 200},
		{"GET", "/api/notifications",
			&invocation{"notification-service", "GET", "inbox", url.Values{"user_id": {"alice"}}, nil}, 200},
		{"GET", "/api/notifications?limit=5&cursor=" + n,
			&invocation{"notification-service", "GET", "inbox", url.Values{"user_id": {"alice"}, "limit": {"5"}, "cursor": {n}}, nil}, 200},
		{"POST", "/api/notifications/" + n + "/read",
			&invocation{"notification-service", "POST", "inbox/read", nil, notifierapi.MarkRead{UserID: "alice", ID: n}}, 200},

		{"GET", "/api/notifications?user_id=bob", nil, 400},
		{"GET", "/api/notifications?limit=1&limit=2", nil, 400},
		{"GET", "/api/notifications?limit=%zz", nil, 400},
		{"GET", "/api/notifications?cursor=..%2Fbob", nil, 400},
		{"GET", "/api/notifications?cursor=" + n + "%00", nil, 400},
		{"GET", "/api/notifications?limit=101", nil, 400},
		{"POST", "/api/notifications/..%2Fbob%2F" + n + "/read", nil, 400},
		{"POST", "/api/notifications/%2E%2E%2Fbob%2F" + n + "/read", nil, 400},
		{"POST", "/api/notifications/0B6F3C1E-2B9A-5F0E-9A57-5C0DE1E7A001/read", nil, 400},
		{"POST", "/api/notifications/{" + n + "}/read", nil, 400},
		{"POST", "/api/notifications/urn:uuid:" + n + "/read", nil, 400},
		{"POST", "/api/notifications/" + n + "%3Fuser_id=bob/read", nil, 400},
		{"GET", fmt.Sprintf("/api/tasks/%d%%2F..%%2F1/history", id), nil, 400},
		{"GET", fmt.Sprintf("/api/tasks/%d/history?cursor=..%%2F", id), nil, 400},
		{"GET", fmt.Sprintf("/api/tasks/%d/history?cursor=a.b", id), nil, 400},
		{"GET", fmt.Sprintf("/api/tasks/%d/history?limit=1001", id), nil, 400},
		{"GET", fmt.Sprintf("/api/tasks/%d/history?task_id=1", id), nil, 400},
		{"GET", fmt.Sprintf("/api/tasks/%d/history", id+1000), nil, 404}, // not alice's
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			inv.mu.Lock()
			inv.calls = nil
			inv.mu.Unlock()
			r := c.do(tt.method, tt.target, alice, "")
			if r.Status != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", r.Status, r.Body, tt.wantStatus)
			}
			inv.mu.Lock()
			defer inv.mu.Unlock()
			if tt.want == nil {
				if r.errorCode() == "" || len(inv.calls) != 0 {
					t.Errorf("refused with %s after %d calls %+v, want a JSON error and no call", r.Body, len(inv.calls), inv.calls)
				}
				return
			}
			if len(inv.calls) != 1 || !reflect.DeepEqual(inv.calls[0], *tt.want) {
				t.Errorf("calls = %+v, want [%+v]", inv.calls, *tt.want)
			}
			if !dapr.ValidMethod(inv.calls[0].Method) {
				t.Errorf("method %q is not one the sidecar passes on unchanged", inv.calls[0].Method)
			}
		})
	}

	// A cut or failed answer is never passed on.
	inv.mu.Lock()
	inv.err = fmt.Errorf("read answer: %w", dapr.ErrResponseTooLarge)
	inv.mu.Unlock()
	if r := c.do("GET", fmt.Sprintf("/api/tasks/%d/history", id), alice, ""); r.Status != http.StatusServiceUnavailable || r.errorCode() != "unavailable" {
		t.Errorf("answer too large: %d %s, want 503 unavailable", r.Status, r.Body)
	}

	// The other app's 400 and 404 are the caller's mistakes and pass on as
	// they are; its other refusals (a wrong app token answers 401) are this
	// system's misconfiguration: 503, never a 401 for a valid user token.
	for _, c2 := range []struct {
		status, want int
		code         string
	}{
		{400, 400, "invalid_cursor"}, {404, 404, "not_found"},
		{401, 503, "unavailable"}, {403, 503, "unavailable"}, {429, 503, "unavailable"}, {500, 503, "unavailable"},
	} {
		inv.mu.Lock()
		inv.err = nil
		inv.resp = dapr.Response{Status: c2.status, Body: []byte(`{"error":{"code":"` + c2.code + `","message":"m"}}`)}
		inv.mu.Unlock()
		for _, target := range []string{fmt.Sprintf("/api/tasks/%d/history", id), "/api/notifications"} {
			if r := c.do("GET", target, alice, ""); r.Status != c2.want || r.errorCode() != c2.code {
				t.Errorf("%s when the app answers %d: %d %s, want %d %s", target, c2.status, r.Status, r.Body, c2.want, c2.code)
			}
		}
	}
}

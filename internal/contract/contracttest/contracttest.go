// Package contracttest serves the contract clients from the callee's own
// HTTP handler in process, the way its sidecar would call it: a client's
// paths, queries and bodies meet the real routes and decoders.
package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/httpx"
)

// Invoker implements dapr.Invoker by calling Apps[appID] directly, with the
// app token header the sidecar adds when AppToken is set.
type Invoker struct {
	Apps     map[string]http.Handler
	AppToken string
}

// Invoke serves one invocation with the app's handler.
func (inv Invoker) Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (dapr.Response, error) {
	h, ok := inv.Apps[appID]
	if !ok {
		return dapr.Response{}, fmt.Errorf("contracttest: no app %q", appID)
	}
	if !dapr.ValidMethod(method) {
		return dapr.Response{}, fmt.Errorf("%w: %q", dapr.ErrInvalidMethod, method)
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return dapr.Response{}, err
		}
		rd = bytes.NewReader(b)
	}
	target := "/" + method
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req := httptest.NewRequestWithContext(ctx, httpMethod, target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if inv.AppToken != "" {
		req.Header.Set(httpx.AppTokenHeader, inv.AppToken)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return dapr.Response{Status: rec.Code, Body: rec.Body.Bytes()}, nil
}

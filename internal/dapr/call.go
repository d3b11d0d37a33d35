package dapr

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// Invoker is the service-invocation part of the sidecar client; the
// contract packages' clients are built on it.
type Invoker interface {
	Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (Response, error)
}

// AppError is a non-2xx answer of the called app (not of the sidecar's
// transport): Status and Body are the app's own.
type AppError struct {
	AppID, Method string
	Status        int
	Body          []byte
}

func (e *AppError) Error() string {
	return fmt.Sprintf("dapr: %s/%s answered %d: %.200s", e.AppID, e.Method, e.Status, e.Body)
}

// Client reports whether the app refused the request for good (a 4xx other
// than 401, 403 and 429): sending it again cannot succeed.
func (e *AppError) Client() bool {
	switch e.Status {
	case 401, 403, 429:
		return false
	}
	return e.Status >= 400 && e.Status < 500
}

// Call invokes method of appID with query and body (nil for none) and
// decodes a 2xx JSON answer into out (nil to ignore it). It returns the
// answer's status; a non-2xx answer is an *AppError.
func Call(ctx context.Context, inv Invoker, appID, httpMethod, method string, query url.Values, body, out any) (int, error) {
	resp, err := inv.Invoke(ctx, appID, httpMethod, method, query, body)
	if err != nil {
		return 0, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return resp.Status, &AppError{AppID: appID, Method: method, Status: resp.Status, Body: resp.Body}
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp.Status, fmt.Errorf("dapr: %s/%s: decode answer: %w", appID, method, err)
		}
	}
	return resp.Status, nil
}

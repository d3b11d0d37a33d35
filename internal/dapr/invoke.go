package dapr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MaxResponseBytes bounds what Invoke and GetState read from the sidecar.
const MaxResponseBytes = 4 << 20

// Response is another app's answer to a service invocation.
type Response struct {
	Status int
	Body   []byte
}

// Invoke calls method (a path such as "internal/reminders/due") of app appID
// through the sidecar. A non-2xx answer of the app is returned as a Response,
// not an error: the caller decides; errors are transport failures.
func (c *Client) Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (Response, error) {
	u := c.base + "/v1.0/invoke/" + url.PathEscape(appID) + "/method/" + strings.TrimLeft(method, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, fmt.Errorf("dapr: invoke %s/%s: encode: %w", appID, method, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, httpMethod, u, rd)
	if err != nil {
		return Response{}, fmt.Errorf("dapr: invoke %s/%s: %w", appID, method, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("dapr: invoke %s/%s: %w", appID, method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return Response{}, fmt.Errorf("dapr: invoke %s/%s: read answer: %w", appID, method, err)
	}
	return Response{Status: resp.StatusCode, Body: b}, nil
}

// ErrStateConflict is returned by SaveState when the item changed since it
// was read (its ETag no longer matches) or was created meanwhile.
var ErrStateConflict = errors.New("dapr: state item changed concurrently")

// GetState reads key from state store `store`. found is false when the key
// does not exist. etag is what SaveState needs to update it safely.
func (c *Client) GetState(ctx context.Context, store, key string) (value []byte, etag string, found bool, err error) {
	u := c.base + "/v1.0/state/" + url.PathEscape(store) + "/" + url.PathEscape(key) + "?consistency=strong"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", false, fmt.Errorf("dapr: get state %s: %w", key, err)
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", false, fmt.Errorf("dapr: get state %s: %w", key, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return nil, "", false, fmt.Errorf("dapr: get state %s: %w", key, err)
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil, "", false, nil
	case resp.StatusCode/100 == 2:
		return b, resp.Header.Get("ETag"), true, nil
	}
	return nil, "", false, &Error{Op: "get state " + key, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// SaveState writes value (encoded as JSON) under key with first-write-wins
// concurrency: with etag it succeeds only if the item still has that ETag;
// with an empty etag only if the key does not exist yet. Otherwise it
// returns an error wrapping ErrStateConflict; re-read and try again.
func (c *Client) SaveState(ctx context.Context, store, key string, value any, etag string) error {
	item := map[string]any{
		"key":     key,
		"value":   value,
		"options": map[string]string{"concurrency": "first-write", "consistency": "strong"},
	}
	if etag != "" {
		item["etag"] = etag
	}
	b, err := json.Marshal([]any{item})
	if err != nil {
		return fmt.Errorf("dapr: save state %s: encode: %w", key, err)
	}
	err = c.do(ctx, "save state "+key, http.MethodPost, c.base+"/v1.0/state/"+url.PathEscape(store), "application/json", b)
	var de *Error
	if errors.As(err, &de) && (de.Status == http.StatusConflict || (etag == "" && de.Status == http.StatusInternalServerError)) {
		// state.postgresql answers a first-write insert over an existing key
		// with a generic error, not 409.
		return fmt.Errorf("%w: %w", ErrStateConflict, err)
	}
	return err
}

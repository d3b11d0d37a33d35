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

// ErrResponseTooLarge is returned by Invoke when the other app's answer is
// larger than MaxResponseBytes: a cut answer is never passed on.
var ErrResponseTooLarge = errors.New("dapr: answer larger than the limit")

// ErrInvalidMethod is returned by Invoke for a method path that the sidecar
// could rewrite (see ValidMethod); nothing is sent.
var ErrInvalidMethod = errors.New("dapr: invalid invocation method")

// Response is another app's answer to a service invocation.
type Response struct {
	Status int
	Body   []byte
}

// ValidMethod reports whether method is a path the sidecar passes on as it
// is: non-empty segments of unreserved characters (letters, digits, '-',
// '.', '_', '~'), none of them "." or "..". daprd decodes the method and
// cleans it with path.Clean before calling the app, so an escaped "../"
// or "%2F" in a segment would reach another route; such a method is
// refused instead of escaped. Values from users belong in the query or
// the body, never in the method.
func ValidMethod(method string) bool {
	if method == "" {
		return false
	}
	for seg := range strings.SplitSeq(method, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for _, c := range []byte(seg) {
			if !unreserved(c) {
				return false
			}
		}
	}
	return true
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// Invoke calls method (a path such as "internal/reminders/due", see
// ValidMethod) of app appID through the sidecar, with query and a JSON body
// (when not nil). A non-2xx answer of the app is returned as a Response,
// not an error: the caller decides; errors are transport failures, an
// invalid method and an answer over MaxResponseBytes.
func (c *Client) Invoke(ctx context.Context, appID, httpMethod, method string, query url.Values, body any) (Response, error) {
	if !ValidMethod(method) {
		return Response{}, fmt.Errorf("%w: %q", ErrInvalidMethod, method)
	}
	u := c.base + "/v1.0/invoke/" + url.PathEscape(appID) + "/method/" + method
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
	b, err := readAtMost(resp.Body, MaxResponseBytes)
	if err != nil {
		return Response{}, fmt.Errorf("dapr: invoke %s/%s: read answer: %w", appID, method, err)
	}
	return Response{Status: resp.StatusCode, Body: b}, nil
}

// readAtMost reads all of r, or fails with ErrResponseTooLarge when r holds
// more than limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w of %d bytes", ErrResponseTooLarge, limit)
	}
	return b, nil
}

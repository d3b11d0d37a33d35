package dapr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

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
	b, err := readAtMost(resp.Body, MaxResponseBytes)
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

// StateOp is one operation of a state transaction: an upsert of Value
// under Key, or a delete when Delete is set. Like SaveState it is
// first-write-wins: with ETag only if the item still has it, without one
// only if the key does not exist yet. TTLSeconds > 0 makes the item expire.
type StateOp struct {
	Key        string
	Value      any
	ETag       string
	Delete     bool
	TTLSeconds int
}

// Transact applies ops to state store `store` atomically: all or none.
// When any op's concurrency condition fails, nothing is written and the
// error wraps ErrStateConflict (the sidecar does not say which op failed
// or why, so a caller re-reads to tell a conflict from a duplicate).
func (c *Client) Transact(ctx context.Context, store string, ops []StateOp) error {
	type request struct {
		Key      string            `json:"key"`
		Value    any               `json:"value,omitempty"`
		ETag     string            `json:"etag,omitempty"`
		Options  map[string]string `json:"options"`
		Metadata map[string]string `json:"metadata,omitempty"`
	}
	type operation struct {
		Operation string  `json:"operation"`
		Request   request `json:"request"`
	}
	body := struct {
		Operations []operation `json:"operations"`
	}{}
	for _, op := range ops {
		o := operation{Operation: "upsert", Request: request{Key: op.Key, Value: op.Value, ETag: op.ETag,
			Options: map[string]string{"concurrency": "first-write", "consistency": "strong"}}}
		if op.Delete {
			o.Operation, o.Request.Value = "delete", nil
		}
		if op.TTLSeconds > 0 {
			o.Request.Metadata = map[string]string{"ttlInSeconds": strconv.Itoa(op.TTLSeconds)}
		}
		body.Operations = append(body.Operations, o)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("dapr: state transaction: encode: %w", err)
	}
	err = c.do(ctx, "state transaction", http.MethodPost, c.base+"/v1.0/state/"+url.PathEscape(store)+"/transaction", "application/json", b)
	var de *Error
	if errors.As(err, &de) && (de.Status == http.StatusConflict || de.Status == http.StatusInternalServerError) {
		// state.postgresql answers a failed condition inside a transaction
		// with a generic error, not 409.
		return fmt.Errorf("%w: %w", ErrStateConflict, err)
	}
	return err
}

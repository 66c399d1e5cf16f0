package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/sync/state"
)

// Control changes the sync's controls: method POST or DELETE on one of
// api.PathFreeze, PathSuspend, PathSync, with req as the body of a POST.
// It returns the sync status after the change.
func (c *Client) Control(ctx context.Context, method, path string, req api.ControlRequest) (state.Status, error) {
	var st state.Status
	var body io.Reader // none for a DELETE
	if method == http.MethodPost {
		b, err := json.Marshal(req)
		if err != nil {
			return st, fmt.Errorf("client: encode the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, method, path, nil, body)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("client: decode the answer to %s %s: %w", method, path, err)
	}
	return st, nil
}

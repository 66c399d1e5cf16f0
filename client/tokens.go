package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/bosun-dev/bosun/api"
)

// CreateToken asks the server for a bootstrap token (admin only). The
// answer carries the secret, which is shown only this once, and what the
// join command needs (server URL, CA hash).
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.TokenResponse, error) {
	var out api.TokenResponse
	b, err := json.Marshal(req)
	if err != nil {
		return out, fmt.Errorf("client: encode the token request: %w", err)
	}
	resp, err := c.do(ctx, http.MethodPost, api.PathTokens, nil, bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("client: decode the answer to POST %s: %w", api.PathTokens, err)
	}
	return out, nil
}

// ListTokens returns the bootstrap tokens the server keeps (admin only),
// without their secrets, in the server's order.
func (c *Client) ListTokens(ctx context.Context) ([]api.BootstrapToken, error) {
	var l struct {
		Items []api.BootstrapToken `json:"items"`
	}
	if err := c.getJSON(ctx, api.PathTokens, nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// DeleteToken deletes bootstrap token id (admin only), the part before the
// dot; a full "ID.SECRET" is accepted too. An unknown id is an *APIError
// for which IsNotFound is true.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	id, _, _ = strings.Cut(id, ".")
	if id == "" {
		return errors.New("client: delete token: an id is required")
	}
	resp, err := c.do(ctx, http.MethodDelete, api.PathTokens+"/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

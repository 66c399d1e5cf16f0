package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bosun-dev/bosun/nodeagent/agentapi/execstream"
)

// LogOptions select what Logs returns.
type LogOptions struct {
	// Container names the container; "" picks the pod's only one (a pod
	// with several answers 400 naming them).
	Container string
	// Follow keeps the stream open, sending lines as they are written,
	// until the container exits or ctx ends.
	Follow bool
	// Previous returns the log of the container's previous instance (the
	// one before its last restart).
	Previous bool
	// Timestamps starts each line with its RFC 3339 time.
	Timestamps bool
	// TailLines > 0 returns only the last TailLines lines; 0 returns all.
	TailLines int
}

// Logs returns the log of a container of pod ns/pod, as plain text lines,
// streamed from the pod's node agent through the server. The caller closes
// it; with Follow it ends when the container exits or ctx ends.
func (c *Client) Logs(ctx context.Context, ns, pod string, opts LogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	for name, on := range map[string]bool{"follow": opts.Follow, "previous": opts.Previous, "timestamps": opts.Timestamps} {
		if on {
			q.Set(name, "true")
		}
	}
	if opts.TailLines > 0 {
		q.Set("tailLines", strconv.Itoa(opts.TailLines))
	}
	resp, err := c.stream(ctx, http.MethodGet, podPath(ns, pod, "log"), q, nil, "text/plain")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Exec runs cmd in container (""= the pod's only one) of pod ns/pod, on
// its node, through the server: stdin (nil: none) is sent as the
// command's standard input, its output is written to stdout and stderr
// as it comes. It returns the command's exit code once it ended; an error
// means it could not run or the stream was cut (see package
// nodeagent/agentapi/execstream for the protocol).
func (c *Client) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(cmd) == 0 {
		return 0, fmt.Errorf("client: exec in pod %s/%s: no command", ns, pod)
	}
	q := url.Values{"command": cmd}
	if container != "" {
		q.Set("container", container)
	}
	if stdin != nil {
		q.Set("stdin", "true")
	}
	resp, err := c.stream(ctx, http.MethodPost, podPath(ns, pod, "exec"), q, stdin, execstream.ContentType)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	code, err := execstream.Copy(resp.Body, stdout, stderr)
	if err != nil {
		return 0, fmt.Errorf("client: exec in pod %s/%s: %w", ns, pod, err)
	}
	return code, nil
}

func podPath(ns, pod, sub string) string {
	return "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(pod) + "/" + sub
}

// stream sends a request whose answer is streamed, with an optional raw
// body; a non-2xx answer is returned as an *APIError.
func (c *Client) stream(ctx context.Context, method, path string, query url.Values, body io.Reader, accept string) (*http.Response, error) {
	hc := c.http
	if hc.Timeout != 0 { // a stream lasts as long as ctx
		cp := *hc
		cp.Timeout = 0
		hc = &cp
	}
	return c.request(ctx, hc, method, path, query, body, accept+", application/json", "application/octet-stream")
}

package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/sync/state"
)

// EnvServer is the environment variable naming the server to talk to.
const EnvServer = "BOSUN_SERVER"

// DefaultServer is the server address used when none is given.
const DefaultServer = "http://127.0.0.1:6780"

// ErrUnreachable is wrapped by errors about a server that could not be reached.
var ErrUnreachable = errors.New("server not reachable")

// Client talks to bosun's API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send requests through hc.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithTimeout bounds every request but watches (which last until their
// context ends) to d.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		hc := *c.http
		hc.Timeout = d
		c.http = &hc
	}
}

// New returns a client of the server at baseURL ("http://host:port"; a bare
// "host:port" means http). An empty baseURL means DefaultServer.
func New(baseURL string, opts ...Option) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultServer
	}
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("client: invalid server URL %q: want http://HOST:PORT", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &Client{base: u, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// APIError is an error the server answered with; Error returns the
// server's message, e.g. `deployments "web" not found in namespace "default"`.
type APIError struct {
	Status metav1.Status
}

// Error returns the server's message; for 401 and 403 it says the request
// was refused and, for 401, that credentials are missing.
func (e *APIError) Error() string {
	msg := e.Status.Message
	if msg == "" {
		msg = fmt.Sprintf("the server answered %d %s", e.Status.Code, e.Status.Reason)
	}
	switch e.Status.Code {
	case http.StatusUnauthorized:
		return "the server refused the request: " + msg + " (no client certificate? check --kubeconfig)"
	case http.StatusForbidden:
		return "the server refused the request: " + msg
	}
	return msg
}

// Reason returns the reason of err when it is an *APIError (e.g.
// metav1.StatusReasonNotFound), else "".
func Reason(err error) metav1.StatusReason {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status.Reason
	}
	return ""
}

// IsNotFound reports whether err is the server's 404 Not Found.
func IsNotFound(err error) bool { return Reason(err) == metav1.StatusReasonNotFound }

// IsUnauthorized reports whether err is the server's 401 Unauthorized: the
// request carried no credential the server accepts.
func IsUnauthorized(err error) bool { return statusCode(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is the server's 403 Forbidden: the
// request's user may not do that.
func IsForbidden(err error) bool { return statusCode(err) == http.StatusForbidden }

func statusCode(err error) int32 {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status.Code
	}
	return 0
}

// IsConflict reports whether err is the server's 409 Conflict (a stale resourceVersion).
func IsConflict(err error) bool { return Reason(err) == metav1.StatusReasonConflict }

// Path returns the API path of resource r: the collection in namespace ns
// ("" = all namespaces, or a cluster-scoped resource), or the object name.
func Path(r api.Resource, ns, name string) string {
	p := "/api/v1"
	if r.Group != "" {
		p = "/apis/" + r.Group + "/" + r.Version
	}
	if r.Namespaced && ns != "" {
		p += "/namespaces/" + url.PathEscape(ns)
	}
	p += "/" + r.Name
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// do sends a request and returns the response when its code is 2xx; else
// the server's Status as an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Response, error) {
	req, err := c.newRequest(ctx, method, path, query, body, "application/json", "application/json")
	if err != nil {
		return nil, err
	}
	return c.roundTrip(c.http, req, method, req.URL.String())
}

// newRequest returns a request for path below the server's URL, with query,
// body (of contentType, when not nil) and an Accept header of accept.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body io.Reader, accept, contentType string) (*http.Request, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// roundTrip performs req with hc and turns transport failures and non-2xx
// answers into errors (*APIError with the server's Status when it sent
// one). The caller closes the body of a successful response.
func (c *Client) roundTrip(hc *http.Client, req *http.Request, method, url string) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		if isUnreachable(err) {
			return nil, fmt.Errorf("client: %w: the bosun server is not reachable at %s (%v); start one with `bosun server`, or point at one with --kubeconfig FILE, --server URL or %s=URL",
				ErrUnreachable, c.base, rootCause(err), EnvServer)
		}
		return nil, fmt.Errorf("client: %s %s: %w%s", method, url, err, tlsHint(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(b, &st) != nil || st.Kind != "Status" {
		msg := strings.TrimSpace(string(b))
		if msg == "" {
			msg = resp.Status
		}
		st = metav1.Status{Status: metav1.StatusFailure, Code: int32(resp.StatusCode), Message: msg,
			Reason: metav1.StatusReasonUnknown}
	}
	return nil, &APIError{Status: st}
}

func isUnreachable(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.As(err, &dnsErr) ||
		(errors.As(err, &opErr) && opErr.Op == "dial")
}

// tlsHint explains the TLS failures a wrong kubeconfig causes.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var recordHeader tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return " (the server's certificate is not signed by the kubeconfig's certificate-authority: does --server or --kubeconfig name another cluster?)"
	case errors.As(err, &hostname):
		return " (the server's certificate is not valid for this address: use one of its names, or add it with bosun server --tls-san)"
	case errors.As(err, &recordHeader):
		return " (the server does not speak TLS: use http:// for a plain-HTTP development listener)"
	}
	return ""
}

func rootCause(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr
	}
	return err
}

func (c *Client) getJSON(ctx context.Context, path string, query url.Values, into any) error {
	resp, err := c.do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("client: decode the answer to GET %s: %w", path, err)
	}
	return nil
}

// decodeObject decodes one object of r and sets its apiVersion and kind.
func decodeObject(r api.Resource, data []byte) (api.Object, error) {
	obj := r.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("client: decode %s: %w", r.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	return obj, nil
}

// Get returns the object name of r in namespace ns (required for namespaced
// resources, ignored for cluster-scoped ones). A missing object is an *APIError for which
// IsNotFound is true.
func (c *Client) Get(ctx context.Context, r api.Resource, ns, name string) (api.Object, error) {
	if r.Namespaced && ns == "" {
		return nil, fmt.Errorf("client: get %s %q: a namespace is required", r.Name, name)
	}
	if name == "" {
		return nil, fmt.Errorf("client: get %s: a name is required", r.Name)
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, Path(r, ns, name), nil, &raw); err != nil {
		return nil, err
	}
	return decodeObject(r, raw)
}

// List returns the objects of r in namespace ns ("" = all namespaces)
// matching the label selector ("" = all), sorted by namespace and name.
func (c *Client) List(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, error) {
	objs, _, err := c.ListAt(ctx, r, ns, selector)
	return objs, err
}

// ListAt is List that also returns the resourceVersion the list was read
// at, to start a Watch from.
func (c *Client) ListAt(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, string, error) {
	return c.ListWith(ctx, r, ns, ListOptions{LabelSelector: selector})
}

// ListOptions select the objects of a ListWith or WatchWith.
type ListOptions struct {
	// LabelSelector filters by labels ("app=web"); "" selects all.
	LabelSelector string
	// FieldSelector filters by fields the server offers for the kind
	// ("spec.nodeName=node-1"; "spec.nodeName=" for unscheduled pods);
	// "" selects all. Unsupported fields are a 400 *APIError.
	FieldSelector string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	return q
}

// ListWith returns the objects of r in namespace ns ("" = all namespaces)
// selected by opts, sorted by namespace and name, and the resourceVersion
// the list was read at, to start a WatchWith from.
func (c *Client) ListWith(ctx context.Context, r api.Resource, ns string, opts ListOptions) ([]api.Object, string, error) {
	q := opts.query()
	var l struct {
		Metadata metav1.ListMeta   `json:"metadata"`
		Items    []json.RawMessage `json:"items"`
	}
	if err := c.getJSON(ctx, Path(r, ns, ""), q, &l); err != nil {
		return nil, "", err
	}
	out := make([]api.Object, 0, len(l.Items))
	for _, raw := range l.Items {
		o, err := decodeObject(r, raw)
		if err != nil {
			return nil, "", err
		}
		out = append(out, o)
	}
	return out, l.Metadata.ResourceVersion, nil
}

// Status returns bosun's sync status. Before the first sync it is empty
// (Synced and LastAttempt nil).
func (c *Client) Status(ctx context.Context) (state.Status, error) {
	var st state.Status
	err := c.getJSON(ctx, "/bosun/v1/status", nil, &st)
	return st, err
}

// History returns up to limit sync attempts, newest first (limit <= 0 = all).
func (c *Client) History(ctx context.Context, limit int) ([]state.Attempt, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var h []state.Attempt
	err := c.getJSON(ctx, "/bosun/v1/history", q, &h)
	return h, err
}

// Event is one change seen by Watch.
type Event struct {
	// Type is "ADDED", "MODIFIED" or "DELETED".
	Type string
	// Object is the object after the change (for DELETED, its last state).
	Object api.Object
}

// Watch streams the changes of r in namespace ns ("" = all) matching
// selector, after resourceVersion rv ("" = first every current object as
// ADDED). It calls fn for each event until ctx ends (returning nil), fn
// returns an error (returned), or the stream ends; a stream the server ends
// with an error (e.g. 410 Expired for a compacted rv) returns an *APIError.
func (c *Client) Watch(ctx context.Context, r api.Resource, ns, selector, rv string, fn func(Event) error) error {
	return c.WatchWith(ctx, r, ns, ListOptions{LabelSelector: selector}, rv, fn)
}

// WatchWith is Watch with label and field selectors. An object that stops
// matching them arrives once as DELETED, as from kube-apiserver.
func (c *Client) WatchWith(ctx context.Context, r api.Resource, ns string, opts ListOptions, rv string, fn func(Event) error) error {
	q := opts.query()
	q.Set("watch", "true")
	if rv != "" {
		q.Set("resourceVersion", rv)
	}
	// Watches outlive any client-wide timeout.
	hc := *c.http
	hc.Timeout = 0
	cc := *c
	cc.http = &hc
	resp, err := cc.do(ctx, http.MethodGet, Path(r, ns, ""), q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("client: decode watch event: %w", err)
		}
		if ev.Type == "ERROR" {
			var st metav1.Status
			if err := json.Unmarshal(ev.Object, &st); err != nil {
				return fmt.Errorf("client: decode watch error: %w", err)
			}
			return &APIError{Status: st}
		}
		obj, err := decodeObject(r, ev.Object)
		if err != nil {
			return err
		}
		if err := fn(Event{Type: ev.Type, Object: obj}); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("client: read watch stream: %w", err)
	}
	return nil
}

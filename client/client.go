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
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
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
//
// A client may know several servers of one cluster (WithServers,
// SetServers): requests go to the current one, and a request whose
// connection to it cannot be made moves to the next (see Failover in the
// package documentation).
type Client struct {
	servers *serverList
	http    *http.Client

	// extra and logger are the options' servers and logger, which New
	// moves into servers.
	extra  []string
	logger *slog.Logger
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

// WithServers adds servers of the same cluster after the one New is given
// (or instead of DefaultServer when New is given ""), in order: a request
// whose connection to the current server cannot be made is retried on the
// next. Each URL is of the form New takes; duplicates are dropped.
func WithServers(urls ...string) Option {
	return func(c *Client) { c.extra = append(c.extra, urls...) }
}

// WithLogger makes the client log to l when it moves from a server that
// cannot be reached to another (Info, once per switch). Without it the
// client logs nothing.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.logger = l } }

// New returns a client of the server at baseURL ("http://host:port"; a bare
// "host:port" means http). An empty baseURL means DefaultServer, unless
// WithServers names servers.
func New(baseURL string, opts ...Option) (*Client, error) {
	c := &Client{http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	urls := c.extra
	if baseURL != "" || len(urls) == 0 {
		urls = append([]string{baseURL}, urls...)
	}
	list, err := parseServers(urls)
	if err != nil {
		return nil, err
	}
	c.servers = newServerList(list, c.logger)
	c.extra, c.logger = nil, nil
	return c, nil
}

// parseServer parses one server URL as New takes it.
func parseServer(baseURL string) (*url.URL, error) {
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
	return u, nil
}

// parseServers parses urls in order, dropping duplicates; it needs one.
func parseServers(urls []string) ([]*url.URL, error) {
	var out []*url.URL
	seen := map[string]bool{}
	for _, s := range urls {
		u, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		if !seen[u.String()] {
			seen[u.String()] = true
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("client: no server URL")
	}
	return out, nil
}

// URL returns the base URL of the server the client talks to now.
func (c *Client) URL() string { return c.servers.current().String() }

// ServerURLs returns every server the client knows, in order.
func (c *Client) ServerURLs() []string { return c.servers.all() }

// SetServers replaces the servers the client knows (e.g. with the list
// ListServers returned), in order. The current server stays current when
// urls still has it; otherwise the first of urls not found down in the
// last DownFor becomes current. An
// invalid or empty list is an error and changes nothing. It is safe to call
// while requests run: those keep the server they started with.
func (c *Client) SetServers(urls []string) error {
	list, err := parseServers(urls)
	if err != nil {
		return err
	}
	c.servers.set(list)
	return nil
}

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
	return c.request(ctx, c.http, method, path, query, body, "application/json", "application/json")
}

// request sends a request for path below the current server's URL, with query,
// body (of contentType, when not nil) and an Accept header of accept,
// through hc. A request whose connection fails (see connFailure) moves the
// client to another server, and is sent again there when it can be
// replayed. It returns the response when its code is 2xx (the caller
// closes its body), else an error: *APIError with the server's Status when
// it answered.
func (c *Client) request(ctx context.Context, hc *http.Client, method, path string, query url.Values, body io.Reader, accept, contentType string) (*http.Response, error) {
	base := c.servers.current()
	first, err := http.NewRequestWithContext(ctx, method, requestURL(base, path, query), body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	first.Header.Set("Accept", accept)
	if body != nil {
		first.Header.Set("Content-Type", contentType)
	}
	replayable := first.Body == nil || first.Body == http.NoBody || first.GetBody != nil
	req := first
	var tried []string
	for waits := 0; ; {
		var tr connTrace
		resp, err := hc.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), tr.hooks())))
		if err == nil {
			d, again := retryAfter(resp, waits)
			if !again || !replayable {
				return answer(resp)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			waits++
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("client: %s %s: %w", method, path, ctx.Err())
			case <-time.After(d):
			}
			if req, err = retryRequest(ctx, first, requestURL(base, path, query)); err != nil {
				return nil, err
			}
			continue
		}
		tried = append(tried, base.String())
		if ctx.Err() != nil || !tr.connFailure() {
			return nil, c.transportError(req, base, err, tried)
		}
		next, ok := c.servers.next(base, tried, err)
		if !ok || !replayable || (tr.connected() && !idempotent(method)) {
			return nil, c.transportError(req, base, err, tried)
		}
		base = next
		if req, err = retryRequest(ctx, first, requestURL(base, path, query)); err != nil {
			return nil, err
		}
	}
}

// maxRetryAfterWaits is how many times a request refused with 429 and
// Retry-After (the server's request limits) is sent again, as client-go
// retries such answers.
const maxRetryAfterWaits = 5

// retryAfter reports whether resp asks to send the request again later
// (429 with a Retry-After of seconds, fewer than maxRetryAfterWaits times so
// far), and after how long (at most 10 s).
func retryAfter(resp *http.Response, waits int) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests || waits >= maxRetryAfterWaits {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return min(time.Duration(secs)*time.Second, 10*time.Second), true
}

// requestURL returns the URL of path with query below base.
func requestURL(base *url.URL, path string, query url.Values) string {
	u := *base
	u.Path += path
	u.RawQuery = query.Encode()
	return u.String()
}

// retryRequest returns first for another server's u, with a fresh copy of
// its body.
func retryRequest(ctx context.Context, first *http.Request, u string) (*http.Request, error) {
	req := first.Clone(ctx)
	nu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", first.Method, u, err)
	}
	req.URL, req.Host = nu, nu.Host
	if first.GetBody != nil {
		if req.Body, err = first.GetBody(); err != nil {
			return nil, fmt.Errorf("client: %s %s: replay the request body: %w", first.Method, u, err)
		}
	}
	return req, nil
}

// transportError is the error of a request that got no answer from base,
// the last of the servers tried.
func (c *Client) transportError(req *http.Request, base *url.URL, err error, tried []string) error {
	also := ""
	if len(tried) > 1 {
		also = " (tried also " + strings.Join(tried[:len(tried)-1], ", ") + ")"
	}
	if isUnreachable(err) {
		return fmt.Errorf("client: %w: the bosun server is not reachable at %s (%v)%s; start one with `bosun server`, or point at one with --kubeconfig FILE, --server URL or %s=URL",
			ErrUnreachable, base, rootCause(err), also, EnvServer)
	}
	return fmt.Errorf("client: %s %s: %w%s%s", req.Method, req.URL, err, tlsHint(err), also)
}

// answer returns resp when its code is 2xx, else an *APIError with the
// server's Status (or one made of the answer when it sent none).
func answer(resp *http.Response) (*http.Response, error) {
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
	resp, err := c.request(ctx, &hc, http.MethodGet, Path(r, ns, ""), q, nil, "application/json", "application/json")
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

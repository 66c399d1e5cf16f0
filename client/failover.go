package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// DownFor is how long a server whose connection failed is passed over when
// the client picks another one (unless every other one is passed over too).
const DownFor = 5 * time.Second

// serverList is the servers a Client knows, the current one, and those
// recently found down. It is shared by the copies of a Client's state that
// watches make.
type serverList struct {
	logger *slog.Logger
	now    func() time.Time

	mu   sync.Mutex
	urls []*url.URL
	cur  int                  // index in urls of the current server
	down map[string]time.Time // URL -> until when it is passed over
}

func newServerList(urls []*url.URL, logger *slog.Logger) *serverList {
	defaults.Logger(&logger)
	return &serverList{logger: logger, now: time.Now, urls: urls, down: map[string]time.Time{}}
}

// current returns the server requests go to now.
func (l *serverList) current() *url.URL {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.urls[l.cur]
}

// all returns every server's URL, in order.
func (l *serverList) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.urls))
	for i, u := range l.urls {
		out[i] = u.String()
	}
	return out
}

// set replaces the servers, keeping the current one when urls has it (else
// the first one not down, else the first), and what is known of the ones
// that stay.
func (l *serverList) set(urls []*url.URL) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.urls[l.cur].String()
	now := l.now()
	l.urls, l.cur = urls, -1
	keep := map[string]bool{}
	for i, u := range urls {
		keep[u.String()] = true
		if u.String() == old {
			l.cur = i
		}
	}
	for u := range l.down {
		if !keep[u] {
			delete(l.down, u)
		}
	}
	if l.cur >= 0 {
		return
	}
	l.cur = max(0, slices.IndexFunc(urls, func(u *url.URL) bool {
		until, down := l.down[u.String()]
		return !down || !now.Before(until)
	}))
	l.logger.Info(fmt.Sprintf("API server %s is no longer listed, using %s", old, urls[l.cur]),
		"unlisted", old, "server", urls[l.cur].String())
}

// next is called when a request's connection to failed broke, having tried
// the servers tried (failed included). It marks failed down for DownFor and
// returns the server to send the request to next: the current one when
// another request already moved away from failed to one not tried yet, else
// the first server after failed, in order, not tried and not down, else the
// first one not tried (down or not). It makes that server the current one,
// logging the switch. ok is false when every server has been tried.
func (l *serverList) next(failed *url.URL, tried []string, cause error) (next *url.URL, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.down[failed.String()] = now.Add(DownFor)
	cur := l.urls[l.cur]
	if cur.String() != failed.String() && !slices.Contains(tried, cur.String()) {
		return cur, true
	}
	start := l.cur
	if i := slices.IndexFunc(l.urls, func(u *url.URL) bool { return u.String() == failed.String() }); i >= 0 {
		start = i
	}
	pick, fallback := -1, -1
	for i := 1; i <= len(l.urls) && pick < 0; i++ {
		j := (start + i) % len(l.urls)
		u := l.urls[j].String()
		if slices.Contains(tried, u) {
			continue
		}
		if until, down := l.down[u]; down && now.Before(until) {
			if fallback < 0 {
				fallback = j
			}
			continue
		}
		delete(l.down, u)
		pick = j
	}
	if pick < 0 {
		pick = fallback
	}
	if pick < 0 {
		return nil, false
	}
	if pick != l.cur {
		l.cur = pick
		l.logger.Info(fmt.Sprintf("API server %s unreachable, using %s", failed, l.urls[pick]),
			"unreachable", failed.String(), "server", l.urls[pick].String(), "err", cause)
	}
	return l.urls[pick], true
}

// connTrace follows one http.Client.Do through httptrace: whether the
// transport's last attempt got a connection (after dialing and the TLS
// handshake) and whether a response byte came.
type connTrace struct {
	gotConn, gotByte atomic.Bool
}

func (t *connTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		// The transport may retry on a new connection (a pooled one that
		// turned out dead): what counts is the last attempt.
		GetConn:              func(string) { t.gotConn.Store(false) },
		GotConn:              func(httptrace.GotConnInfo) { t.gotConn.Store(true) },
		GotFirstResponseByte: func() { t.gotByte.Store(true) },
	}
}

// connected reports whether the request got a connection, so that it may
// have reached the server.
func (t *connTrace) connected() bool { return t.gotConn.Load() }

// connFailure reports whether the traced request's error says the server
// could not be talked to: no connection could be made (dial error or
// timeout, connection refused, name not found, TLS handshake failure or
// timeout), or no byte of an answer came before the connection broke or
// the client's Timeout passed (a server that died, or hangs: stopped,
// overloaded past the timeout). An HTTP answer never is one.
func (t *connTrace) connFailure() bool { return !t.gotByte.Load() }

// idempotent reports whether a request of method may be sent twice with the
// effect of once (RFC 9110, section 9.2.2): only those are sent again after
// a connection broke once the request may have reached the server.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// ClusterInfo reads the cluster's public facts (api.PathClusterInfo): its
// CA certificate and service CIDR.
func (c *Client) ClusterInfo(ctx context.Context) (api.ClusterInfo, error) {
	var out api.ClusterInfo
	err := c.getJSON(ctx, api.PathClusterInfo, nil, &out)
	return out, err
}

// ListServers returns the API servers the cluster has registered (GET
// api.PathServers), sorted by name: the addresses to give SetServers.
func (c *Client) ListServers(ctx context.Context) ([]api.ServerInfo, error) {
	var out []api.ServerInfo
	if err := c.getJSON(ctx, api.PathServers, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

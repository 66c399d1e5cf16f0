package apiserver

import (
	"net/http"
	"slices"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// Defaults of the request limits, as kube-apiserver's
// --max-requests-inflight and --max-mutating-requests-inflight.
const (
	DefaultMaxRequestsInFlight         = 400
	DefaultMaxMutatingRequestsInFlight = 200
	// DefaultMaxWatchesPerClient bounds the watches one identity holds
	// open at once. A node agent holds fewer than ten; kubectl one per
	// `get -w`.
	DefaultMaxWatchesPerClient = 100
)

// retryAfterSeconds is what a request refused by a limit is told to wait,
// as kube-apiserver's max-in-flight filter answers.
const retryAfterSeconds = 1

// limits bounds the requests served at once: read-only and mutating
// requests each against their own number (long-running ones — watches,
// logs, exec, attach, port-forward — are not counted, as in
// kube-apiserver), and the watches each identity holds. Admins and nodes'
// heartbeats are exempt (see exempt).
type limits struct {
	readOnly   chan struct{}
	mutating   chan struct{}
	maxWatches int

	mu      sync.Mutex
	watches map[string]int // by user name
}

func newLimits(readOnly, mutating, watches int) *limits {
	return &limits{
		readOnly:   make(chan struct{}, readOnly),
		mutating:   make(chan struct{}, mutating),
		maxWatches: watches,
		watches:    map[string]int{},
	}
}

// longRunning reports whether ri is a request that stays open for as long
// as the client wants: not counted against the in-flight limits.
func longRunning(req *http.Request, ri requestInfo) bool {
	switch {
	case ri.verb == "watch":
		return true
	case ri.subresource == "exec" || ri.subresource == "attach" || ri.subresource == "portforward" || ri.subresource == "proxy":
		return true
	case ri.subresource == "log" && req.URL.Query().Get("follow") == "true":
		return true
	}
	return false
}

// mutatingVerb reports whether verb changes state.
func mutatingVerb(verb string) bool {
	switch verb {
	case "get", "list", "watch":
		return false
	}
	return true
}

// exempt reports whether the request of u described by ri passes the
// limits, as kube-apiserver's API Priority and Fairness lets through its
// "exempt" level (system:masters: the admin credential, and so the
// plain-HTTP listener, whose requests are the admin's) and keeps a level of
// its own for nodes' heartbeats: a node whose Lease cannot be renewed is
// marked NotReady and its pods are replaced, which only adds load.
func exempt(u api.User, ri requestInfo) bool {
	if slices.Contains(u.Groups, api.GroupMasters) {
		return true
	}
	return slices.Contains(u.Groups, api.GroupNodes) && ri.group == "coordination.k8s.io" && ri.resource == "leases"
}

// admitRequest takes a place for the request of u described by ri, or
// answers 429 with Retry-After. The returned release gives the place back;
// call it once the request is served.
func (l *limits) admitRequest(w http.ResponseWriter, req *http.Request, u api.User, ri requestInfo) (release func(), ok bool) {
	if exempt(u, ri) {
		return func() {}, true
	}
	if ri.verb == "watch" {
		return l.admitWatch(w, u.Name)
	}
	if longRunning(req, ri) {
		return func() {}, true
	}
	sem, kind := l.readOnly, "read-only"
	if mutatingVerb(ri.verb) {
		sem, kind = l.mutating, "mutating"
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, true
	default:
		tooMany(w, "too many "+kind+" requests are being served at once ("+strconv.Itoa(cap(sem))+"); try again later")
		return nil, false
	}
}

func (l *limits) admitWatch(w http.ResponseWriter, user string) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.watches[user] >= l.maxWatches {
		tooMany(w, "user "+strconv.Quote(user)+" already holds "+strconv.Itoa(l.maxWatches)+
			" watches open, the most one client may; close some, or share one watch between readers (an informer)")
		return nil, false
	}
	l.watches[user]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.watches[user]--; l.watches[user] <= 0 {
			delete(l.watches, user)
		}
	}, true
}

// tooMany answers 429 TooManyRequests with Retry-After, as kube-apiserver
// does when a limit refuses a request.
func tooMany(w http.ResponseWriter, msg string) {
	e := newStatusError(http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, msg)
	e.status.Details = &metav1.StatusDetails{RetryAfterSeconds: retryAfterSeconds}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	writeError(w, e)
}

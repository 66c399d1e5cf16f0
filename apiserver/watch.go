package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// watchEvent is one line of a watch stream, as kube-apiserver writes it.
type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// watch streams changes of t's collection as newline-delimited JSON events.
// resourceVersion "" or "0" first sends every current object as ADDED, then
// the changes after the revision of that list; N sends the changes after N.
// A compacted N ends the stream with an ERROR event carrying a 410 Expired
// Status. timeoutSeconds ends the stream (cleanly) after that long.
//
// With a labelSelector or fieldSelector, an object is sent while it matches;
// an object that stops matching is sent once as DELETED, as kube-apiserver
// does.
//
// sendInitialEvents=true (client-go's streaming list, WatchList: with
// resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true) sends the
// current objects as ADDED, whatever resourceVersion says (the state read
// is the latest, so not older than it), then a BOOKMARK annotated
// k8s.io/initial-events-end at the revision of that state, then the
// changes after it.
func (s *Server) watch(w http.ResponseWriter, req *http.Request, t target) *apiError {
	lsel, fsel, aerr := parseSelectors(req, t.r)
	if aerr != nil {
		return aerr
	}
	var match func(api.Object) bool
	if lsel != nil || fsel != nil {
		match = func(o api.Object) bool {
			return (lsel == nil || lsel.Matches(labels.Set(o.GetLabels()))) && matchFields(fsel, o)
		}
	}
	rev, aerr := parseRevision(req)
	if aerr != nil {
		return aerr
	}
	initialEvents, aerr := parseSendInitialEvents(req)
	if aerr != nil {
		return aerr
	}
	if initialEvents {
		rev = 0 // the latest state: not older than any resourceVersion given
	}
	ctx := req.Context()
	if raw := req.URL.Query().Get("timeoutSeconds"); raw != "" {
		secs, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || secs < 0 {
			return errBadRequest("invalid timeoutSeconds %q: want a non-negative integer", raw)
		}
		if secs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			defer cancel()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Objects sent as present in this stream, by namespace/name: lets a
	// selector watch turn "no longer matches" into DELETED.
	present := map[string]bool{}
	var initial []api.Object
	if rev == 0 {
		objs, at, err := s.cfg.Store.List(ctx, t.r, t.namespace, store.ListOptions{Selector: lsel})
		if err != nil {
			return objectError(t, err)
		}
		for _, o := range objs {
			if matchFields(fsel, o) {
				initial = append(initial, o)
			}
		}
		rev = at
	}
	wt, err := s.cfg.Store.Watch(ctx, t.r, t.namespace, rev)
	if err != nil {
		if errors.Is(err, api.ErrCompacted) {
			// kube-apiserver answers 200 and an ERROR event here; clients
			// (reflectors) rely on it to relist.
			sw := newStreamWriter(w)
			sw.send(watchEvent{Type: "ERROR", Object: errGone("too old resource version: %d: %v", rev, err).status})
			return nil
		}
		return objectError(t, err)
	}
	// With Accept as=Table (kubectl get -w), each event's object is a
	// Table of one row; only the first carries the column definitions, as
	// kube-apiserver sends them.
	asTable, first := wantsTable(req), true
	encode := func(o api.Object) any {
		if !asTable {
			return typed(t.r, o)
		}
		tb := s.table(t.r, []api.Object{o}, 0)
		if !first {
			tb.ColumnDefinitions = nil
		}
		first = false
		return tb
	}
	sw := newStreamWriter(w)
	for _, o := range initial {
		present[objKey(o)] = true
		if !sw.send(watchEvent{Type: string(store.Added), Object: encode(o)}) {
			return nil
		}
	}
	if initialEvents {
		mark := t.r.New()
		mark.SetResourceVersion(strconv.FormatInt(rev, 10))
		mark.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		if !sw.send(watchEvent{Type: "BOOKMARK", Object: typed(t.r, mark)}) {
			return nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-wt.Events():
			if !ok {
				if err := wt.Err(); err != nil && ctx.Err() == nil {
					st := errInternal(err).status
					if errors.Is(err, api.ErrCompacted) {
						st = errGone("watch ended: %v", err).status
					}
					sw.send(watchEvent{Type: "ERROR", Object: st})
				}
				return nil
			}
			typ, send := filterEvent(ev, match, present)
			if !send {
				continue
			}
			if !sw.send(watchEvent{Type: typ, Object: encode(ev.Object)}) {
				return nil
			}
		}
	}
}

func objKey(o api.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// parseSendInitialEvents reads sendInitialEvents, refusing what
// kube-apiserver refuses: it needs resourceVersionMatch=NotOlderThan and
// allowWatchBookmarks=true (the bookmark ends the initial events).
func parseSendInitialEvents(req *http.Request) (bool, *apiError) {
	q := req.URL.Query()
	raw := q.Get("sendInitialEvents")
	if raw == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(raw)
	if err != nil {
		return false, errBadRequest("sendInitialEvents=%q: want true or false", raw)
	}
	if !on {
		return false, nil
	}
	if m := q.Get("resourceVersionMatch"); m != string(metav1.ResourceVersionMatchNotOlderThan) {
		return false, newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			"sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
	}
	if b, _ := strconv.ParseBool(q.Get("allowWatchBookmarks")); !b {
		return false, newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			"sendInitialEvents requires allowWatchBookmarks=true")
	}
	return true, nil
}

// filterEvent decides what a selector watch sends for ev and tracks which
// objects the client holds; match nil selects everything. As kube-apiserver
// does, a change that makes an object match is sent as ADDED and one that
// makes it stop matching as DELETED. Whether the client holds an object is
// known from this stream (present) or, for a watch resumed from a
// resourceVersion, from whether the object matched before the change.
func filterEvent(ev store.Event, match func(api.Object) bool, present map[string]bool) (string, bool) {
	k := objKey(ev.Object)
	typ := string(ev.Type)
	if match == nil {
		if ev.Type == store.Deleted {
			delete(present, k)
		} else {
			present[k] = true
		}
		return typ, true
	}
	held := present[k]
	if !held && ev.Type == store.Modified {
		if prev, ok := ev.Previous(); ok && match(prev) {
			held = true
		}
	}
	matches := match(ev.Object)
	switch {
	case ev.Type == store.Deleted:
		if !matches && !held {
			return "", false
		}
		delete(present, k)
		return typ, true
	case matches && held:
		return typ, true
	case matches:
		present[k] = true
		return string(store.Added), true
	case held:
		delete(present, k)
		return string(store.Deleted), true
	default:
		return "", false
	}
}

// streamWriter writes watch events, flushing each one.
type streamWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *json.Encoder
	err error
}

func newStreamWriter(w http.ResponseWriter) *streamWriter {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w)}
	sw.err = sw.rc.Flush()
	return sw
}

// send writes one event; false once the client is gone.
func (sw *streamWriter) send(ev watchEvent) bool {
	if sw.err != nil {
		return false
	}
	if err := sw.enc.Encode(ev); err != nil {
		sw.err = err
		return false
	}
	if err := sw.rc.Flush(); err != nil {
		sw.err = err
		return false
	}
	return true
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
)

// EventType is the kind of a watch event; the strings are those of
// k8s.io/apimachinery/pkg/watch.
type EventType string

// Event types.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
)

// Event is one change of one object.
type Event struct {
	Type EventType
	// Object is the object after the change; for Deleted it is the last stored
	// state, with resourceVersion set to the revision of the deletion.
	Object api.Object
	// Revision is the etcd revision of the change (equal to Object's resourceVersion).
	Revision int64

	// prev is the stored value before a Modified change, decoded on demand
	// by Previous (most watchers never need it).
	prev    []byte
	prevRev int64
	r       api.Resource
	key     string
	s       *Store
}

// Previous returns the object as it was before a Modified change, with its
// resourceVersion then, and whether etcd still had it. It is decoded on each
// call, so a watcher that needs it (a selector watch deciding whether the
// object just started or stopped matching) pays for it and others do not.
// For Added and Deleted events it returns false.
func (e Event) Previous() (api.Object, bool) {
	if e.Type != Modified || e.prev == nil {
		return nil, false
	}
	obj := e.r.New()
	if err := e.s.decode(e.r, e.key, e.prev, e.prevRev, obj); err != nil {
		return nil, false
	}
	return obj, true
}

// Watcher delivers the events of one Watch. Events is closed when the watch ends;
// Err then says why.
type Watcher struct {
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Events returns the channel of events, in revision order. It is closed when the
// watch's context ends, Stop is called or the watch fails.
func (w *Watcher) Events() <-chan Event { return w.events }

// Err returns why the watch ended: nil while it runs and after a normal end
// (context cancelled or Stop), else an error, which wraps api.ErrCompacted when etcd
// compacted the revisions the watch still needed. It is set before Events closes.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch and waits until Events is closed. It need not be called if
// the watch's context is cancelled.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

// Watch streams the changes of r in namespace ("" = all namespaces) strictly after
// revision fromRev; fromRev 0 means "from now". The caller must drain Events or
// cancel ctx. When fromRev is already compacted, Watch returns an error wrapping
// api.ErrCompacted (and naming etcd's compacted revision when known) at once; if
// compaction overtakes the watch later, Events closes and Err wraps api.ErrCompacted.
// A client that sees api.ErrCompacted lists again and watches from the list's revision.
func (s *Store) Watch(ctx context.Context, r api.Resource, namespace string, fromRev int64) (*Watcher, error) {
	prefix := s.keyPrefix(r, namespace)
	if fromRev < 0 {
		return nil, fmt.Errorf("store: watch %s: %w: negative revision %d", prefix, api.ErrInvalid, fromRev)
	}
	if fromRev > 0 {
		// Fail fast on a compacted start. A read at fromRev+1, the first
		// revision the watch needs, fails exactly when the watch would; but
		// when fromRev is the current revision (a watch started from a fresh
		// list) etcd answers "future revision", which its client retries
		// with backoff. So read at fromRev, which always exists, and only
		// when that is compacted check fromRev+1, the compaction point itself.
		_, err := s.c.Get(ctx, prefix, clientv3.WithRev(fromRev), clientv3.WithCountOnly())
		if err != nil && errors.Is(err, rpctypes.ErrCompacted) {
			_, err = s.c.Get(ctx, prefix, clientv3.WithRev(fromRev+1), clientv3.WithCountOnly())
		}
		if err != nil && !errors.Is(err, rpctypes.ErrFutureRev) {
			return nil, mapErr(fmt.Sprintf("watch %s from revision %d", prefix, fromRev), err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(fromRev+1))
	}
	wch := s.c.Watch(clientv3.WithRequireLeader(wctx), prefix, opts...)
	w := &Watcher{events: make(chan Event, 64), cancel: cancel, done: make(chan struct{})}
	go w.run(wctx, s, r, prefix, fromRev, wch)
	return w, nil
}

func (w *Watcher) fail(err error) {
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
}

func (w *Watcher) run(ctx context.Context, s *Store, r api.Resource, prefix string, fromRev int64, wch clientv3.WatchChan) {
	defer close(w.done)
	defer close(w.events)
	defer w.cancel()
	for {
		var wr clientv3.WatchResponse
		var ok bool
		select {
		case <-ctx.Done():
			return
		case wr, ok = <-wch:
		}
		if !ok {
			if ctx.Err() == nil {
				w.fail(fmt.Errorf("store: watch %s: etcd closed the watch", prefix))
			}
			return
		}
		if wr.CompactRevision != 0 {
			w.fail(fmt.Errorf("store: watch %s from revision %d: %w: etcd compacted up to revision %d",
				prefix, fromRev, api.ErrCompacted, wr.CompactRevision))
			return
		}
		if err := wr.Err(); err != nil {
			if ctx.Err() == nil {
				w.fail(mapErr("watch "+prefix, err))
			}
			return
		}
		for _, ev := range wr.Events {
			e, err := s.toEvent(r, ev)
			if err != nil {
				w.fail(fmt.Errorf("store: watch %s: %w", prefix, err))
				return
			}
			select {
			case w.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

// toEvent decodes one etcd event.
func (s *Store) toEvent(r api.Resource, ev *clientv3.Event) (Event, error) {
	obj := r.New()
	key := string(ev.Kv.Key)
	switch ev.Type {
	case mvccpb.PUT:
		typ := Modified
		if ev.IsCreate() {
			typ = Added
		}
		if err := s.decode(r, key, ev.Kv.Value, ev.Kv.ModRevision, obj); err != nil {
			return Event{}, err
		}
		e := Event{Type: typ, Object: obj, Revision: ev.Kv.ModRevision}
		if typ == Modified && ev.PrevKv != nil {
			e.prev, e.prevRev, e.r, e.key, e.s = ev.PrevKv.Value, ev.PrevKv.ModRevision, r, key, s
		}
		return e, nil
	default: // mvccpb.DELETE
		rev := ev.Kv.ModRevision
		if ev.PrevKv != nil {
			if err := s.decode(r, key, ev.PrevKv.Value, rev, obj); err != nil {
				return Event{}, err
			}
		} else {
			// etcd no longer has the previous value: report what the key says.
			s.fromKey(r, key, obj)
			obj.GetObjectKind().SetGroupVersionKind(r.GVK())
			obj.SetResourceVersion(strconv.FormatInt(rev, 10))
		}
		return Event{Type: Deleted, Object: obj, Revision: rev}, nil
	}
}

// fromKey sets namespace and name of obj from its key.
func (s *Store) fromKey(r api.Resource, key string, obj api.Object) {
	rest := strings.TrimPrefix(key, s.prefix+"/"+r.Name+"/")
	if ns, name, ok := strings.Cut(rest, "/"); ok && r.Namespaced {
		obj.SetNamespace(ns)
		obj.SetName(name)
		return
	}
	obj.SetName(rest)
}

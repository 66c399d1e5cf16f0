package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	kcache "k8s.io/client-go/tools/cache"

	"github.com/bosun-dev/bosun/api"
)

// listerWatcher is a ListWatcher as client-go's ListerWatcher: a list becomes a
// metav1.List whose items are the listed objects themselves (no copies), a
// watch a watch.Interface fed by a goroutine, and a compacted revision the
// 410 Expired error event on which a Reflector lists again. It drops watch
// events not newer than the last state it handed over of the same object, and
// deletions of objects it never handed over, and records the last revision
// seen.
type listerWatcher struct {
	lw      ListWatcher
	lastRev atomic.Int64

	mu   sync.Mutex
	revs map[string]int64 // key -> revision of the last state handed over

	// Test hooks: interrupt ends the current watch (the Reflector then watches
	// or lists again); beforeWatch, when set, is called with the revision
	// before every Watch.
	interrupt   chan struct{}
	beforeWatch func(rev int64)
}

var (
	_ kcache.ListerWatcherWithContext = (*listerWatcher)(nil)
	_ kcache.ListerWatcher            = (*listerWatcher)(nil)
)

// List implements kcache.Lister; Reflectors call ListWithContext.
func (l *listerWatcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

// ListWithContext lists every object; it ignores opts (the list is always
// current and complete).
func (l *listerWatcher) ListWithContext(ctx context.Context, _ metav1.ListOptions) (runtime.Object, error) {
	objs, rev, err := l.lw.List(ctx)
	if err != nil {
		return nil, err
	}
	l.seen(rev)
	revs := make(map[string]int64, len(objs))
	for _, o := range objs {
		revs[keyOf(o)] = rvOf(o)
	}
	l.mu.Lock()
	l.revs = revs
	l.mu.Unlock()
	list := &metav1.List{ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10)}}
	list.Items = make([]runtime.RawExtension, len(objs))
	for n, o := range objs {
		list.Items[n].Object = o
	}
	return list, nil
}

// Watch implements kcache.Watcher; Reflectors call WatchWithContext.
func (l *listerWatcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

// WatchWithContext watches from opts.ResourceVersion, for at most
// opts.TimeoutSeconds when set (a Reflector then watches again).
func (l *listerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	rev, err := strconv.ParseInt(opts.ResourceVersion, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("cache: watch from resourceVersion %q: %w", opts.ResourceVersion, err)
	}
	if l.beforeWatch != nil {
		l.beforeWatch(rev)
	}
	var cancel context.CancelFunc
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*opts.TimeoutSeconds)*time.Second)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	w := &chanWatch{ch: make(chan watch.Event, 64), cancel: cancel}
	go l.run(ctx, cancel, rev, w.ch)
	return w, nil
}

// run feeds ch from one Watch until it ends, then closes ch.
func (l *listerWatcher) run(ctx context.Context, cancel context.CancelFunc, rev int64, ch chan<- watch.Event) {
	defer close(ch)
	defer cancel()
	go func() {
		select {
		case <-l.interrupt:
			cancel()
		case <-ctx.Done():
		}
	}()
	send := func(ev watch.Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	err := l.lw.Watch(ctx, rev, func(typ watch.EventType, obj api.Object) {
		rv, key := rvOf(obj), keyOf(obj)
		l.seen(rv)
		l.mu.Lock()
		cur, known := l.revs[key]
		l.mu.Unlock()
		if known && cur >= rv || !known && typ == watch.Deleted {
			return // stale, or the deletion of an object never handed over
		}
		if !send(watch.Event{Type: typ, Object: obj}) {
			return // a later watch delivers it again
		}
		l.mu.Lock()
		if typ == watch.Deleted {
			delete(l.revs, key)
		} else {
			l.revs[key] = rv
		}
		l.mu.Unlock()
	})
	switch {
	case ctx.Err() != nil || err == nil:
	case errors.Is(err, api.ErrCompacted):
		send(watch.Event{Type: watch.Error, Object: &apierrors.NewResourceExpired(err.Error()).ErrStatus})
	default:
		send(watch.Event{Type: watch.Error, Object: &apierrors.NewInternalError(err).ErrStatus})
	}
}

// seen raises lastRev to rev.
func (l *listerWatcher) seen(rev int64) {
	for {
		cur := l.lastRev.Load()
		if rev <= cur || l.lastRev.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// IsWatchListSemanticsUnSupported tells Reflectors to list, then watch: a
// ListWatcher has no streaming list.
func (*listerWatcher) IsWatchListSemanticsUnSupported() bool { return true }

// chanWatch is a watch.Interface over a channel.
type chanWatch struct {
	ch     chan watch.Event
	cancel context.CancelFunc
}

func (w *chanWatch) Stop()                          { w.cancel() }
func (w *chanWatch) ResultChan() <-chan watch.Event { return w.ch }

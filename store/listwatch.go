package store

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-dev/bosun/api"
)

// ListWatch lists and watches one resource of a Store, in one namespace or
// all. It is the ListWatcher of client/cache's informers on the control plane.
type ListWatch struct {
	Store    *Store
	Resource api.Resource
	// Namespace limits the objects to one namespace; "" means all.
	Namespace string
}

// ListWatcher returns the ListWatch of r in all namespaces.
func (s *Store) ListWatcher(r api.Resource) ListWatch {
	return ListWatch{Store: s, Resource: r}
}

// List returns every object and the revision the list was read at.
func (lw ListWatch) List(ctx context.Context) ([]api.Object, int64, error) {
	return lw.Store.List(ctx, lw.Resource, lw.Namespace, ListOptions{})
}

// Watch calls fn with every change strictly after revision rev, in revision
// order, until ctx ends (it returns nil) or the watch fails: then it returns
// an error, which wraps api.ErrCompacted when etcd no longer has rev.
func (lw ListWatch) Watch(ctx context.Context, rev int64, fn func(watch.EventType, api.Object)) error {
	w, err := lw.Store.Watch(ctx, lw.Resource, lw.Namespace, rev)
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.Events() {
		fn(watch.EventType(ev.Type), ev.Object)
	}
	if err := w.Err(); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return fmt.Errorf("store: watch %s from revision %d ended", lw.Resource.Name, rev)
	}
	return nil
}

package client

import (
	"context"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-dev/bosun/api"
)

// ListWatch lists and watches one resource through the API, in one namespace
// or all, selected by Options. It is the ListWatcher of client/cache's
// informers on node agents.
type ListWatch struct {
	Client   *Client
	Resource api.Resource
	// Namespace limits the objects to one namespace; "" means all.
	Namespace string
	// Options select the objects by label and field.
	Options ListOptions
}

// List returns the selected objects and the revision the list was read at.
func (lw ListWatch) List(ctx context.Context) ([]api.Object, int64, error) {
	objs, rv, err := lw.Client.ListWith(ctx, lw.Resource, lw.Namespace, lw.Options)
	if err != nil {
		return nil, 0, fmt.Errorf("client: list %s: %w", lw.Resource.Name, err)
	}
	rev, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("client: list %s: resourceVersion %q is not a revision: %w", lw.Resource.Name, rv, err)
	}
	return objs, rev, nil
}

// Watch calls fn with every change of the selected objects strictly after
// revision rev until ctx ends (it returns nil) or the stream ends: it returns
// nil when the server closed it cleanly, an error wrapping api.ErrCompacted
// when the server answered 410 (rev compacted), else the error.
func (lw ListWatch) Watch(ctx context.Context, rev int64, fn func(watch.EventType, api.Object)) error {
	err := lw.Client.WatchWith(ctx, lw.Resource, lw.Namespace, lw.Options, strconv.FormatInt(rev, 10), func(ev Event) error {
		fn(watch.EventType(ev.Type), ev.Object)
		return nil
	})
	switch r := Reason(err); {
	case err == nil:
		return nil
	case r == metav1.StatusReasonExpired || r == metav1.StatusReasonGone:
		return fmt.Errorf("client: watch %s from revision %d: %w: %w", lw.Resource.Name, rev, api.ErrCompacted, err)
	default:
		return fmt.Errorf("client: watch %s from revision %d: %w", lw.Resource.Name, rev, err)
	}
}

package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
)

// PodHandler receives the pods bound to a node. Its methods must not block
// (they update a cache and enqueue keys) and must not change the pods they
// are given: the same objects may be shared with other handlers.
type PodHandler interface {
	// SetPods replaces the whole set of pods: after every (re)list. A pod
	// known before and missing now was deleted.
	SetPods(pods []*corev1.Pod)
	// UpsertPod reports a pod added or changed.
	UpsertPod(pod *corev1.Pod)
	// DeletePod reports a pod deleted (its last state).
	DeletePod(pod *corev1.Pod)
}

// PodSource delivers the pods bound to one node to a PodHandler.
type PodSource interface {
	// WatchPods keeps h informed of the pods whose spec.nodeName is node,
	// starting with a SetPods of the current set, until ctx ends (then it
	// returns nil). It retries failures itself.
	WatchPods(ctx context.Context, node string, h PodHandler) error
}

// ListWatchOptions tune ListWatchPods.
type ListWatchOptions struct {
	// FieldSelector selects the pods ("spec.nodeName=node-1"); "" = all.
	FieldSelector string
	Logger        *slog.Logger
	// Clock times the backoff between failed attempts; default the real clock.
	Clock clock.Clock
	// MinBackoff and MaxBackoff bound the wait after a failure (doubling);
	// defaults 200ms and 10s.
	MinBackoff, MaxBackoff time.Duration
}

var podsResource = mustResource("pods")

func mustResource(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic("nodeagent: the store has no resource " + name)
	}
	return r
}

// ListWatchPods lists the pods selected by opts through c, hands them to
// h.SetPods, then watches from the list's resourceVersion and hands every
// change to h. When the watch ends (410 Expired, a dropped stream, a server
// restart) it lists again, after a doubling backoff when the attempt failed.
// It blocks until ctx ends and returns nil.
func ListWatchPods(ctx context.Context, c *client.Client, h PodHandler, opts ListWatchOptions) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	sel := client.ListOptions{FieldSelector: opts.FieldSelector}
	backoff := opts.MinBackoff
	for ctx.Err() == nil {
		err := listWatchOnce(ctx, c, sel, h)
		if ctx.Err() != nil {
			return nil
		}
		wait := opts.MinBackoff
		if err != nil {
			if r := client.Reason(err); r == metav1.StatusReasonExpired || r == metav1.StatusReasonGone {
				opts.Logger.Info("pod watch expired; listing again", "selector", opts.FieldSelector)
			} else {
				opts.Logger.Warn("pod list or watch failed; retrying", "selector", opts.FieldSelector, "error", err, "retryIn", backoff)
				wait = backoff
				backoff = min(2*backoff, opts.MaxBackoff)
			}
		} else {
			backoff = opts.MinBackoff
		}
		t := opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
	return nil
}

func listWatchOnce(ctx context.Context, c *client.Client, sel client.ListOptions, h PodHandler) error {
	objs, rv, err := c.ListWith(ctx, podsResource, "", sel)
	if err != nil {
		return fmt.Errorf("nodeagent: list pods: %w", err)
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	h.SetPods(pods)
	err = c.WatchWith(ctx, podsResource, "", sel, rv, func(ev client.Event) error {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return nil
		}
		if ev.Type == "DELETED" {
			h.DeletePod(p)
		} else {
			h.UpsertPod(p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("nodeagent: watch pods: %w", err)
	}
	return nil
}

// APIPodSource is the PodSource of a single agent: its own list and watch of
// pods with fieldSelector spec.nodeName=<node>.
type APIPodSource struct {
	Client *client.Client
	Logger *slog.Logger
	Clock  clock.Clock
}

// WatchPods runs ListWatchPods for node.
func (s APIPodSource) WatchPods(ctx context.Context, node string, h PodHandler) error {
	return ListWatchPods(ctx, s.Client, h, ListWatchOptions{
		FieldSelector: "spec.nodeName=" + node, Logger: s.Logger, Clock: s.Clock})
}

// newerRV reports whether resourceVersion a is newer than b (both decimal
// etcd revisions; an unparsable one counts as older).
func newerRV(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil {
		return false
	}
	if errB != nil {
		return true
	}
	return x > y
}

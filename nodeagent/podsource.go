package nodeagent

import (
	"context"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/cache"
)

// PodHandler receives the pods bound to a node. Its methods must not block
// (they update a cache and enqueue keys) and must not change the pods they
// are given: the same objects may be shared with other handlers.
type PodHandler interface {
	// SetPods replaces the whole set of pods. A PodSource calls it first,
	// once the pods are listed; afterwards (also after a relist) the
	// differences arrive as UpsertPod and DeletePod.
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
}

var podsResource = mustResource("pods")

func mustResource(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic("nodeagent: the store has no resource " + name)
	}
	return r
}

// ListWatchPods keeps h informed of the pods selected by opts, read through
// c by an informer (package client/cache): once they are listed it hands
// them to h.SetPods, then every change to h.UpsertPod or h.DeletePod. The
// informer watches from the list's revision, watches again when a watch ends
// and lists again (handing h the differences) after 410 Expired or a
// failure, with backoff. It blocks until ctx ends and returns nil.
func ListWatchPods(ctx context.Context, c *client.Client, h PodHandler, opts ListWatchOptions) error {
	lw := client.ListWatch{Client: c, Resource: podsResource, Options: client.ListOptions{FieldSelector: opts.FieldSelector}}
	inf := cache.NewInformer(lw, podsResource, opts.Logger)
	// Until SetPods, changes are not forwarded: the list SetPods hands over
	// is read after them. mu makes "SetPods, then forward" one step, so no
	// change is handed over before the SetPods of an older state.
	var mu sync.Mutex
	forward := false
	inf.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { podEvent(&mu, &forward, o, h.UpsertPod) },
		OnUpdate: func(_, o api.Object) { podEvent(&mu, &forward, o, h.UpsertPod) },
		OnDelete: func(o api.Object) { podEvent(&mu, &forward, o, h.DeletePod) },
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = inf.Run(ctx) // Run fails only when run twice
	}()
	if inf.WaitForSync(ctx) == nil {
		mu.Lock()
		objs := inf.List("", nil)
		pods := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok {
				pods = append(pods, p)
			}
		}
		h.SetPods(pods)
		forward = true
		mu.Unlock()
	}
	<-ctx.Done()
	<-done
	return nil
}

// podEvent hands o to fn once forwarding started.
func podEvent(mu *sync.Mutex, forward *bool, o api.Object, fn func(*corev1.Pod)) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if *forward {
		fn(p)
	}
}

// APIPodSource is the PodSource of a single agent: its own list and watch of
// pods with fieldSelector spec.nodeName=<node>.
type APIPodSource struct {
	Client *client.Client
	Logger *slog.Logger
}

// WatchPods runs ListWatchPods for node.
func (s APIPodSource) WatchPods(ctx context.Context, node string, h PodHandler) error {
	return ListWatchPods(ctx, s.Client, h, ListWatchOptions{
		FieldSelector: "spec.nodeName=" + node, Logger: s.Logger})
}

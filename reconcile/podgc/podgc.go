// Package podgc removes the pods nobody else will, as kube-controller-manager's
// pod garbage collector does:
//
//   - orphaned pods, bound to a node that no longer exists (deleted with
//     `kubectl delete node`, or a machine that left the cluster): no agent will
//     ever stop them or delete them, so they are removed at once (grace 0),
//     after the node has been missing for Quarantine and a fresh read of the
//     store confirms it;
//   - terminating pods that were never bound to a node;
//   - finished pods (Succeeded or Failed) beyond TerminatedPodThreshold, the
//     oldest first, by creation time then name (kube-controller-manager's
//     --terminated-pod-gc-threshold,
//     12,500 by default).
//
// Pods on a node that is unreachable but still exists stay, terminating if
// they were evicted, until the node comes back or is deleted: a partitioned
// node may still run them, and a StatefulSet must not get a second pod of one
// name meanwhile (Kubernetes' rule too).
//
//	c := podgc.New(podgc.Config{Writer: st, Getter: st, Informers: inf})
//	err := c.Run(ctx)
package podgc

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Defaults, as kube-controller-manager's.
const (
	// DefaultPeriod is how often the pods are checked (gcCheckPeriod).
	DefaultPeriod = 20 * time.Second
	// DefaultQuarantine is how long a node must be missing before its pods go.
	DefaultQuarantine = 40 * time.Second
	// DefaultTerminatedPodThreshold is how many finished pods are kept.
	DefaultTerminatedPodThreshold = 12500
)

// Writer deletes pods (compare-and-swap on resourceVersion).
type Writer interface {
	reconcile.Deleter
}

// Config configures a Controller. Writer, Getter and Informers are required.
type Config struct {
	Writer    Writer
	Getter    reconcile.Getter
	Informers *cache.Informers
	// Period between two passes; default DefaultPeriod.
	Period time.Duration
	// Quarantine is how long a node must have been missing from the cache
	// before its pods are removed; default DefaultQuarantine.
	Quarantine time.Duration
	// TerminatedPodThreshold is how many finished pods are kept; default
	// DefaultTerminatedPodThreshold; negative keeps them all.
	TerminatedPodThreshold int
	Logger                 *slog.Logger
	Clock                  clock.WithTicker
}

// Controller is the pod garbage collector.
type Controller struct {
	cfg          Config
	pods, nodes  *cache.Informer
	podsRes      api.Resource
	missingSince map[string]time.Time // node name → first pass that missed it
}

// New returns a Controller; it registers the pod and node informers it reads.
func New(cfg Config) *Controller {
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.Period, DefaultPeriod)
	defaults.Positive(&cfg.Quarantine, DefaultQuarantine)
	if cfg.TerminatedPodThreshold == 0 {
		cfg.TerminatedPodThreshold = DefaultTerminatedPodThreshold
	}
	podsRes, _ := api.Lookup("pods")
	return &Controller{cfg: cfg, pods: cfg.Informers.ForKind("pods"), nodes: cfg.Informers.ForKind("nodes"),
		podsRes: podsRes, missingSince: map[string]time.Time{}}
}

// Run makes a pass every Period until ctx ends, once the caches synced; it
// returns nil then.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.pods.WaitForSync(ctx); err != nil {
		return nil
	}
	if err := c.nodes.WaitForSync(ctx); err != nil {
		return nil
	}
	t := c.cfg.Clock.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		c.Pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// Pass makes one pass over the cached pods and returns how many it removed.
func (c *Controller) Pass(ctx context.Context) int {
	now := c.cfg.Clock.Now()
	var finished []*corev1.Pod
	removed := 0
	missing := map[string]bool{}
	for _, o := range c.pods.List("", nil) {
		pod := o.(*corev1.Pod)
		switch {
		case pod.Spec.NodeName == "" && pod.DeletionTimestamp != nil:
			removed += c.remove(ctx, pod, "terminating pod that was never bound to a node")
		case pod.Spec.NodeName != "":
			if _, ok := c.nodes.Get("", pod.Spec.NodeName); !ok {
				missing[pod.Spec.NodeName] = true
				if c.orphaned(ctx, pod.Spec.NodeName, now) {
					removed += c.remove(ctx, pod, "pod bound to a node that no longer exists")
					continue
				}
			}
			fallthrough
		default:
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				finished = append(finished, pod)
			}
		}
	}
	for n := range c.missingSince {
		if !missing[n] {
			delete(c.missingSince, n) // back, or no pod left on it
		}
	}
	if excess := len(finished) - c.cfg.TerminatedPodThreshold; c.cfg.TerminatedPodThreshold >= 0 && excess > 0 {
		sort.Slice(finished, func(i, j int) bool {
			a, b := finished[i], finished[j]
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
		})
		for _, pod := range finished[:excess] {
			removed += c.remove(ctx, pod, "finished pod beyond the terminated-pod threshold")
		}
	}
	return removed
}

// orphaned reports whether node has been missing for the quarantine and
// the store confirms that it is gone.
func (c *Controller) orphaned(ctx context.Context, node string, now time.Time) bool {
	since, ok := c.missingSince[node]
	if !ok {
		c.missingSince[node] = now
		return false
	}
	if now.Sub(since) < c.cfg.Quarantine {
		return false
	}
	err := c.cfg.Getter.Get(ctx, "", node, &corev1.Node{})
	return errors.Is(err, api.ErrNotFound)
}

// remove deletes pod at once (no agent will) and logs why; it returns 1 when
// the pod was removed.
func (c *Controller) remove(ctx context.Context, pod *corev1.Pod, why string) int {
	err := c.cfg.Writer.Delete(ctx, c.podsRes, pod.Namespace, pod.Name, pod.ResourceVersion)
	switch {
	case err == nil:
		c.cfg.Logger.Info("removed pod: "+why, "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
		return 1
	case errors.Is(err, api.ErrNotFound), errors.Is(err, api.ErrConflict):
		return 0 // gone or changed meanwhile: the next pass looks again
	default:
		if ctx.Err() == nil {
			c.cfg.Logger.Warn("could not remove pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		return 0
	}
}

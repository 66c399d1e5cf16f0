package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/store"
)

// DefaultWorkers is the number of workers of a Controller whose options say 0.
const DefaultWorkers = 2

// ControllerOptions configure a Controller. The zero value is usable.
type ControllerOptions struct {
	// Workers is how many keys are reconciled at once; default DefaultWorkers.
	Workers int
	// Logger receives errors and panics of Reconcile, with the controller's name
	// and the key; default discards.
	Logger *slog.Logger
	// Clock drives RequeueAfter, EnqueueAfter and the retry backoff; default
	// clock.RealClock{}. Tests pass a k8s.io/utils/clock/testing.FakeClock.
	Clock clock.WithTicker
	// Metrics receives the queue's metrics (depth, adds, latency, work
	// duration, retries) under the controller's name; nil keeps none.
	// *metrics.WorkqueueProvider is one.
	Metrics workqueue.MetricsProvider
}

// Controller runs a Reconciler over a deduplicating, rate-limited work queue of
// keys (k8s.io/client-go/util/workqueue). A key queued many times while it waits
// is reconciled once; a key queued while it is being reconciled is reconciled
// again afterwards, never concurrently. After each Reconcile the key is marked
// Done; on success (and for Terminal errors) its backoff is forgotten; on error
// or Result.Requeue it is requeued with per-key exponential backoff (5 ms doubling
// up to 1000 s) under an overall limit of 10 retries per second (burst 100), as
// controller-runtime's default; Result.RequeueAfter requeues it after that delay.
//
// Create it with NewController. Enqueue may be called before Run; Run may be
// called once.
type Controller struct {
	name    string
	r       Reconciler
	workers int
	log     *slog.Logger
	queue   workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a Controller named name (used in logs and as the queue's
// name) that reconciles with r. It does not start anything: call Run.
func NewController(name string, r Reconciler, opts ControllerOptions) *Controller {
	defaults.Positive(&opts.Workers, DefaultWorkers)
	defaults.Logger(&opts.Logger)
	defaults.Clock(&opts.Clock)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: opts.Clock, MetricsProvider: opts.Metrics},
	)
	return &Controller{
		name:    name,
		r:       r,
		workers: opts.Workers,
		log:     opts.Logger.With("controller", name),
		queue:   q,
	}
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Enqueue queues key for reconciliation. It never blocks long and is safe to
// call from informer handlers; keys queued after Run returned are dropped.
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// EnqueueAfter queues key after d (measured on the controller's clock); d <= 0
// queues it at once.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.AddAfter(key, d) }

// EnqueueObject queues the key of obj (see KeyOf).
func (c *Controller) EnqueueObject(obj metav1.Object) { c.Enqueue(KeyOf(obj)) }

// EnqueueHandler returns an informer handler that queues the key of every
// object added, updated or deleted: for the informer of the objects the
// controller reconciles.
func (c *Controller) EnqueueHandler() cache.Handler {
	return cache.Handler{
		OnAdd:    func(o api.Object) { c.EnqueueObject(o) },
		OnUpdate: func(_, o api.Object) { c.EnqueueObject(o) },
		OnDelete: func(o api.Object) { c.EnqueueObject(o) },
	}
}

// Len returns how many keys wait in the queue (not counting delayed ones or those
// being reconciled).
func (c *Controller) Len() int { return c.queue.Len() }

// Run starts the workers and blocks until ctx ends; it then shuts the queue down,
// waits for the Reconcile calls in progress to return, and returns nil. Keys still
// queued at that moment are dropped.
func (c *Controller) Run(ctx context.Context) error {
	c.log.Debug("controller starting", "workers", c.workers)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.log.Debug("controller stopped")
	return nil
}

// processNext reconciles one key; it returns false when the queue is shut down.
func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if ctx.Err() != nil {
		return false
	}
	res, err := c.reconcile(ctx, key)
	switch {
	case ctx.Err() != nil:
		// Stopping: whatever happened, the next leader or start looks again.
	case err != nil && IsTerminal(err):
		c.queue.Forget(key)
		c.log.Error("reconcile failed with an error retrying cannot fix; the key is not retried until it changes",
			"key", key, "err", err)
	case errors.Is(err, store.ErrFenced):
		// This controller's term as leader ended while it worked: its write
		// was refused, as fencing intends. The next leader reconciles the
		// key from its own cache, and this one is about to stop.
		c.queue.Forget(key)
		c.log.Info("write refused: leadership lost; the next leader reconciles this key", "key", key)
	case errors.Is(err, api.ErrConflict), errors.Is(err, api.ErrExists):
		// Someone wrote the object after our cache saw it (or our own write
		// has not reached the cache yet): routine, not an error worth a
		// user's attention. Look again with fresh state.
		c.queue.AddRateLimited(key)
		c.log.Debug("write conflicted; reconciling again", "key", key, "err", err)
	case err != nil:
		c.queue.AddRateLimited(key)
		c.log.Error("reconcile failed; retrying with backoff", "key", key, "retries", c.queue.NumRequeues(key), "err", err)
	case res.RequeueAfter > 0:
		c.queue.Forget(key)
		c.queue.AddAfter(key, res.RequeueAfter)
	case res.Requeue:
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
	}
	return true
}

// reconcile calls the Reconciler and turns a panic into an error.
func (c *Controller) reconcile(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("reconcile panicked", "key", key, "panic", p, "stack", string(debug.Stack()))
			res, err = Result{}, fmt.Errorf("reconcile: %s: %s: panic: %v", c.name, key, p)
		}
	}()
	return c.r.Reconcile(ctx, key)
}

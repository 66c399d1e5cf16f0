// Package reconcile is bosun's controller loop: a Reconciler converges one object,
// named by its key ("namespace/name"), and a Controller runs it with several
// workers over a deduplicating, rate-limited work queue of keys
// (k8s.io/client-go/util/workqueue). Everything is level-triggered: events only
// say "look at this key again"; Reconcile re-reads the current state (from the
// informer caches of package client/cache) and makes the owned objects match
// it, writing with compare-and-swap on resourceVersion.
//
// Queue semantics, as controller-runtime's:
//   - a key queued many times before a worker takes it is reconciled once;
//   - the same key is never reconciled by two workers at once; a key queued while
//     it is being reconciled is reconciled again afterwards;
//   - an error requeues the key with per-key exponential backoff (5 ms to 1000 s)
//     under an overall 10 per second limit; a Terminal error is logged and not
//     retried; a panic is recovered and handled as an error;
//   - Result.RequeueAfter requeues after a delay (on the controller's clock),
//     Result.Requeue with backoff; success forgets the key's backoff.
//
// Package reconcile/cache keeps the informers that feed controllers, and package
// reconcile/leader makes sure only one bosun server runs them at a time.
//
// # Example
//
//	pods := informers.ForKind("pods")
//	var c *reconcile.Controller
//	c = reconcile.NewController("replicaset", reconcile.ReconcilerFunc(
//		func(ctx context.Context, key string) (reconcile.Result, error) {
//			ns, name := reconcile.SplitKey(key)
//			obj, ok := replicaSets.Get(ns, name)
//			if !ok {
//				return reconcile.Result{}, nil // deleted: nothing to do
//			}
//			rs := obj.(*appsv1.ReplicaSet).DeepCopy() // never change a cached object
//			if err := converge(ctx, rs); errors.Is(err, api.ErrConflict) {
//				return reconcile.Result{Requeue: true}, nil
//			} else if err != nil {
//				return reconcile.Result{}, err // retried with backoff
//			}
//			return reconcile.Result{}, nil
//		}), reconcile.ControllerOptions{Workers: 4, Logger: log})
//	replicaSets.AddHandler(c.EnqueueHandler()) // queue every change
//	informers.Start(ctx)
//	if err := informers.WaitForSync(ctx); err != nil {
//		return err
//	}
//	return c.Run(ctx) // blocks until ctx ends
package reconcile

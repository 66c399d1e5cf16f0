// Package leader elects one leader among bosun servers sharing an etcd, so that
// only one runs the controllers while the others wait as standbys. It uses etcd's
// election recipe (go.etcd.io/etcd/client/v3/concurrency): each candidate holds a
// key under KeyPrefix+name+"/" bound to its session's lease, and the oldest key
// leads. A leader that dies stops renewing its lease; etcd deletes its key when
// the lease expires (about ttl seconds) and the next candidate leads. A leader
// that shuts down cleanly resigns, and a standby takes over at once.
//
// Leadership is not a lock on the store: a deposed leader may still be finishing
// a write when the new one starts. bosun's controllers stay correct anyway,
// because every write is compare-and-swap on resourceVersion.
//
// # Example
//
//	err := leader.Run(ctx, etcdClient, "controllers", leader.DefaultID(), 5, log,
//		func(ctx context.Context) error {
//			// Cancelled when leadership is lost: stop everything and return.
//			informers.Start(ctx)
//			if err := informers.WaitForSync(ctx); err != nil {
//				return err
//			}
//			return runControllers(ctx)
//		})
//
//	id, err := leader.Leader(ctx, etcdClient, "controllers") // e.g. "node-1/4242"
package leader

// Package leader elects one leader among bosun servers sharing an etcd, so that
// only one runs each singleton (the controllers, the sync loop, compaction)
// while the others wait as standbys. It uses etcd's election recipe
// (go.etcd.io/etcd/client/v3/concurrency): each candidate holds a key under
// KeyPrefix+name+"/" bound to its session's lease, and the oldest key leads. A
// leader that dies stops renewing its lease; etcd deletes its key when the lease
// expires (about ttl seconds) and the next candidate leads. A leader that shuts
// down cleanly resigns, and a standby takes over at once.
//
// # Fencing
//
// Losing leadership cancels the leader's context, but a leader that was paused
// (SIGSTOP, a long GC pause, a frozen VM) past its lease learns it only after it
// wakes, and may be in the middle of a write by then. RunFenced therefore hands
// the leader a store.Fence: its election key and the key's create revision
// (etcd's Mutex.IsOwner comparison). Every store.Txn the leader builds with
// Txn.Fence carries that comparison in the same etcd transaction as its writes,
// so etcd itself refuses (store.ErrFenced) any write of a term that has ended:
// the key vanished with the lease, and a new term has a new key and revision.
// DESIGN.md decision 9.
//
// # Example
//
//	err := leader.RunFenced(ctx, etcdClient, "sync", leader.DefaultID(), 5, log,
//		func(ctx context.Context, fence store.Fence) error {
//			// Cancelled when leadership is lost: stop everything and return.
//			// Every write carries the fence, so none lands after the loss.
//			for ctx.Err() == nil {
//				txn := s.Txn().Fence(fence)
//				txn.PutRaw(key, value)
//				if _, err := txn.Commit(ctx); errors.Is(err, store.ErrFenced) {
//					return err // another server leads now
//				}
//			}
//			return nil
//		})
//
//	id, err := leader.Leader(ctx, etcdClient, "controllers") // e.g. "node-1/4242"
package leader

package reconcile

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
)

// Creator, Updater, Deleter and Getter are the one-method store operations
// from which each controller composes the narrow Writer and Getter interfaces
// it declares beside its Config. *store.Store implements all four. Every write
// is a compare-and-swap on resourceVersion, so a controller never clobbers a
// field another writer set meanwhile; each method blocks until the write is
// committed or refused (or the read is done).

// Creator creates objects in the store.
type Creator interface {
	// Create writes obj, a new object whose Go type names its resource (a name
	// is generated from generateName when empty), and sets its
	// resourceVersion. The error wraps api.ErrExists when the name is taken.
	Create(ctx context.Context, obj api.Object) error
}

// Updater replaces objects in the store.
type Updater interface {
	// Update replaces the stored object if it is still at obj's resourceVersion
	// and sets the new one in obj. The error wraps api.ErrConflict when the object
	// changed since and api.ErrNotFound when it is gone.
	Update(ctx context.Context, obj api.Object) error
}

// Deleter removes objects from the store.
type Deleter interface {
	// Delete removes namespace/name of r if it is still at resourceVersion. The
	// error wraps api.ErrConflict when it changed since and api.ErrNotFound when
	// it is gone.
	Delete(ctx context.Context, r api.Resource, namespace, name, resourceVersion string) error
}

// Getter reads one object from the store itself, not the cache, for the few
// decisions that must not act on a stale copy.
type Getter interface {
	// Get reads namespace/name into into, whose Go type names the resource, with
	// its resourceVersion. The error wraps api.ErrNotFound when there is no such
	// object.
	Get(ctx context.Context, namespace, name string, into api.Object) error
}

// PodDeleter is what DeletePod needs: *store.Store is one.
type PodDeleter interface {
	Updater
	Deleter
}

// DeletePod deletes pod as an API DELETE does (api.GracefulPodDelete with the
// pod's own grace period): a pod running on a node is marked terminating, with
// a compare-and-swap update of the copy read, and its node agent removes it once
// its containers stopped; an unbound or finished pod is removed at once. It
// reports whether the deletion is graceful. pod itself is not changed.
// Every controller that deletes pods calls it, so that no path skips the
// pod's preStop hooks and grace period.
func DeletePod(ctx context.Context, w PodDeleter, pod *corev1.Pod, now time.Time) (graceful bool, err error) {
	terminating := pod.DeepCopy()
	if !api.GracefulPodDelete(terminating, now, nil) {
		r, err := api.ResourceOf(pod)
		if err != nil {
			return false, err
		}
		return false, w.Delete(ctx, r, pod.Namespace, pod.Name, pod.ResourceVersion)
	}
	if pod.DeletionTimestamp != nil {
		return true, nil // terminating already; its grace never grows
	}
	return true, w.Update(ctx, terminating)
}

// CreateBatch collects creations that Commit writes in one etcd transaction:
// all of them or none, in one raft entry instead of one per object. It is
// used by one goroutine and committed once. *store.Txn is a CreateBatch.
type CreateBatch interface {
	// Create adds the creation of obj, conditional on its name being free, and
	// fills in its generated name; nothing is sent. The error is for an object
	// that can never be written (api.ErrInvalid).
	Create(obj api.Object) error
	// Commit writes the batch, blocking until it is committed or refused, and
	// returns the revision it was written at. The error wraps api.ErrExists
	// when a name was taken and api.ErrTooLarge when the batch exceeds the
	// store's limits; then nothing was written.
	Commit(ctx context.Context) (int64, error)
}

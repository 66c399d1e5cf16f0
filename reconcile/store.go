package reconcile

import (
	"context"

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

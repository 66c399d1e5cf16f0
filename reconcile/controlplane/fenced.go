package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// fencedStore is the store as the controllers write it during one term of
// leadership: each Create, Update and Delete is one etcd transaction whose
// compares are the object's (key free, or resourceVersion unchanged) and the
// term's fence, so that a controller of a deposed leader writes nothing
// (store.ErrFenced), however late it learns that it lost. Batches (Txn) carry
// the fence too; reads go to the store. Its errors keep the store's
// single-write contracts: api.ErrExists for a taken name, api.ErrNotFound
// for a vanished object, api.ErrConflict for a stale resourceVersion.
type fencedStore struct {
	s     *store.Store
	fence store.Fence
}

// Get reads namespace/name from the store.
func (w fencedStore) Get(ctx context.Context, namespace, name string, into api.Object) error {
	return w.s.Get(ctx, namespace, name, into)
}

// Txn starts a transaction that carries the fence.
func (w fencedStore) Txn() *store.Txn { return w.s.Txn().Fence(w.fence) }

// Create writes obj if its name is free and the fence holds.
func (w fencedStore) Create(ctx context.Context, obj api.Object) error {
	txn := w.Txn()
	if err := txn.Create(obj); err != nil {
		return err
	}
	_, err := txn.Commit(ctx)
	return only(err, api.ErrExists)
}

// Update replaces the stored object if it is still at obj's resourceVersion
// and the fence holds. Like store.Store.Update it reads the stored object
// first, for the fields it keeps (uid, creationTimestamp, generation).
func (w fencedStore) Update(ctx context.Context, obj api.Object) error {
	r, err := api.ResourceOf(obj)
	if err != nil {
		return err
	}
	if obj.GetResourceVersion() == "" {
		return fmt.Errorf("controlplane: update %s %s: %w: resourceVersion is required", r.Kind, obj.GetName(), api.ErrInvalid)
	}
	old := r.New()
	if err := w.s.Get(ctx, obj.GetNamespace(), obj.GetName(), old); err != nil {
		return err
	}
	if old.GetResourceVersion() != obj.GetResourceVersion() {
		return fmt.Errorf("controlplane: update %s %s/%s: %w: resourceVersion %s is stale, stored object is at %s",
			r.Kind, old.GetNamespace(), old.GetName(), api.ErrConflict, obj.GetResourceVersion(), old.GetResourceVersion())
	}
	txn := w.Txn()
	if err := txn.Update(old, obj); err != nil {
		return err
	}
	_, err = txn.Commit(ctx)
	return only(err, api.ErrNotFound)
}

// Delete removes namespace/name of r if it is still at resourceVersion and
// the fence holds. An empty resourceVersion deletes the object at the version
// read just before (store.Store.Delete's unconditional delete cannot carry a
// fence).
func (w fencedStore) Delete(ctx context.Context, r api.Resource, namespace, name, resourceVersion string) error {
	if resourceVersion == "" {
		cur := r.New()
		if err := w.s.Get(ctx, namespace, name, cur); err != nil {
			return err
		}
		resourceVersion = cur.GetResourceVersion()
	}
	txn := w.Txn()
	if err := txn.Delete(r, namespace, name, resourceVersion); err != nil {
		return err
	}
	_, err := txn.Commit(ctx)
	return only(err, api.ErrNotFound)
}

// only narrows a failed transaction's error that wraps sentinel (besides
// api.ErrConflict) to sentinel alone, as the store's single writes report it.
func only(err, sentinel error) error {
	if err == nil || !errors.Is(err, sentinel) || errors.Is(err, store.ErrFenced) {
		return err
	}
	return fmt.Errorf("controlplane: %w: %s", sentinel, err.Error())
}

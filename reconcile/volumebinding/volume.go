package volumebinding

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// ReconcileVolume converges one PV, named by key: Available without a
// claimRef, Bound while its claim exists, and once the claim is gone Released
// (Retain) or deleted (Delete, for volumes bosun provisioned).
func (c *Controller) ReconcileVolume(ctx context.Context, key string) (reconcile.Result, error) {
	_, name := reconcile.SplitKey(key)
	obj, ok := c.volumes.Get("", name)
	if !ok {
		return reconcile.Result{}, nil
	}
	pv := obj.(*corev1.PersistentVolume)
	if pv.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		if pv.Status.Phase == "" || pv.Status.Phase == corev1.VolumePending {
			return reconcile.Result{}, c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		}
		return reconcile.Result{}, nil
	}
	if ref.UID == "" {
		return reconcile.Result{}, nil // pre-bound: the claim binds it
	}
	gone, err := c.claimGone(ctx, ref)
	if err != nil || !gone {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, c.reclaim(ctx, pv)
}

// claimGone says whether the claim ref names no longer exists (or was
// recreated with another UID), asking the store when the cache has no such
// claim: a PV is never released for a claim the cache has not seen yet.
func (c *Controller) claimGone(ctx context.Context, ref *corev1.ObjectReference) (bool, error) {
	if obj, ok := c.claims.Get(ref.Namespace, ref.Name); ok && obj.GetUID() == ref.UID {
		return false, nil
	}
	var pvc corev1.PersistentVolumeClaim
	err := c.getter.Get(ctx, ref.Namespace, ref.Name, &pvc)
	switch {
	case errors.Is(err, api.ErrNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("volumebinding: persistentvolumeclaim %s/%s: re-read: %w", ref.Namespace, ref.Name, err)
	}
	return pvc.UID != ref.UID, nil
}

// reclaim applies pv's reclaim policy once its claim is gone.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		if pv.Annotations[AnnProvisionedBy] != Provisioner {
			msg := fmt.Sprintf("error getting deleter volume plugin for volume %q: only volumes provisioned by %s are deleted", pv.Name, Provisioner)
			c.rec.Event(events.Ref(pv), corev1.EventTypeWarning, ReasonVolumeFailedDelete, msg)
			return c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
		}
		err := c.writer.Delete(ctx, c.pvRes, "", pv.Name, pv.ResourceVersion)
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("volumebinding: persistentvolume %s: delete after its claim was deleted: %w", pv.Name, err)
		}
		c.log.Info("volume deleted: its claim is gone", "volume", pv.Name)
		return nil
	case corev1.PersistentVolumeReclaimRetain:
		if pv.Status.Phase == corev1.VolumeReleased {
			return nil
		}
		return c.setVolumePhase(ctx, pv, corev1.VolumeReleased, "")
	default:
		if pv.Status.Phase == corev1.VolumeFailed {
			return nil
		}
		return c.setVolumePhase(ctx, pv, corev1.VolumeFailed, fmt.Sprintf("reclaim policy %q is not supported", pv.Spec.PersistentVolumeReclaimPolicy))
	}
}

// setVolumePhase writes pv's status.phase and message.
func (c *Controller) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, msg string) error {
	p := pv.DeepCopy()
	p.Status.Phase = phase
	p.Status.Message = msg
	if err := c.writer.Update(ctx, p); err != nil {
		return fmt.Errorf("volumebinding: persistentvolume %s: set phase %s: %w", pv.Name, phase, err)
	}
	return nil
}

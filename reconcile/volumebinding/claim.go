package volumebinding

import (
	"context"
	"errors"
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// Provisionable says whether bosun's node-local provisioner provisions a
// claim of class: an unset class, "local-path" or "standard". The scheduler
// uses it too: such a claim, unbound, fits any node.
func Provisionable(pvc *corev1.PersistentVolumeClaim) bool {
	cls := pvc.Spec.StorageClassName
	return cls == nil || *cls == DefaultClass || *cls == "standard"
}

// ReconcileClaim converges one claim, named by key "namespace/name": binds it
// to the volume that names it (or that it names), provisions a volume when
// the scheduler selected a node, or keeps it Pending with the reason.
func (c *Controller) ReconcileClaim(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.claims.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if pvc.Spec.VolumeName != "" {
		return reconcile.Result{}, c.syncBoundClaim(ctx, pvc)
	}
	if pv := c.volumeClaiming(pvc); pv != nil {
		return reconcile.Result{}, c.bind(ctx, pvc, pv)
	}
	if err := c.ensurePending(ctx, pvc); err != nil {
		return reconcile.Result{}, err
	}
	if !Provisionable(pvc) {
		c.rec.Event(events.Ref(pvc), corev1.EventTypeWarning, ReasonProvisioningFailed, unprovisionableMessage(pvc))
		return reconcile.Result{}, nil
	}
	node := pvc.Annotations[AnnSelectedNode]
	if node == "" {
		c.rec.Event(events.Ref(pvc), corev1.EventTypeNormal, ReasonWaitForFirstConsumer,
			"waiting for first consumer to be created before binding")
		return reconcile.Result{}, nil
	}
	pv, err := c.provision(ctx, pvc, node)
	if err != nil || pv == nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, c.bind(ctx, pvc, pv)
}

// unprovisionableMessage says why a claim's class is not provisioned.
func unprovisionableMessage(pvc *corev1.PersistentVolumeClaim) string {
	if *pvc.Spec.StorageClassName == "" {
		return `storage class "" has no provisioner: bind the claim to a PersistentVolume (spec.volumeName), or use the class "local-path"`
	}
	return fmt.Sprintf(`storageclass.storage.k8s.io %q not found: bosun provisions only the classes "local-path" and "standard"`, *pvc.Spec.StorageClassName)
}

// volumeClaiming returns a PV whose claimRef names pvc (and its UID, when the
// claimRef has one) and that is not bound to another claim, or nil.
func (c *Controller) volumeClaiming(pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	for _, obj := range c.volumes.ByIndex(indexClaimRef, reconcile.KeyOf(pvc)) {
		pv := obj.(*corev1.PersistentVolume)
		if pv.DeletionTimestamp != nil || pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
			continue
		}
		if ref := pv.Spec.ClaimRef; ref.UID == "" || ref.UID == pvc.UID {
			return pv
		}
	}
	return nil
}

// syncBoundClaim handles a claim that names its volume: binds the volume to it
// when the volume is free, marks the claim Bound when both agree, Lost when
// the volume is gone.
func (c *Controller) syncBoundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	obj, ok := c.volumes.Get("", pvc.Spec.VolumeName)
	if !ok {
		if pvc.Status.Phase == corev1.ClaimBound {
			c.rec.Eventf(events.Ref(pvc), corev1.EventTypeWarning, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
			return c.setClaimPhase(ctx, pvc, corev1.ClaimLost)
		}
		return c.ensurePending(ctx, pvc)
	}
	pv := obj.(*corev1.PersistentVolume)
	if ref := pv.Spec.ClaimRef; ref != nil && (ref.Namespace != pvc.Namespace || ref.Name != pvc.Name || (ref.UID != "" && ref.UID != pvc.UID)) {
		c.rec.Eventf(events.Ref(pvc), corev1.EventTypeWarning, ReasonFailedBinding, "volume %q already bound to a different claim.", pv.Name)
		return c.ensurePending(ctx, pvc)
	}
	return c.bind(ctx, pvc, pv)
}

// bind makes pv and pvc point at each other and marks both Bound: the PV
// first (claimRef with the claim's UID), then the claim, as Kubernetes does.
func (c *Controller) bind(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	if err := c.bindVolume(ctx, pvc, pv); err != nil {
		return err
	}
	return c.bindClaim(ctx, pvc, pv)
}

// bindVolume sets pv's claimRef to pvc and its phase Bound.
func (c *Controller) bindVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	ref := pv.Spec.ClaimRef
	if ref != nil && ref.UID == pvc.UID && pv.Status.Phase == corev1.VolumeBound {
		return nil
	}
	p := pv.DeepCopy()
	if ref == nil || ref.UID != pvc.UID {
		p.Spec.ClaimRef = claimRef(pvc)
		if ref == nil {
			metav1.SetMetaDataAnnotation(&p.ObjectMeta, AnnBoundByController, "yes")
		}
	}
	p.Status.Phase = corev1.VolumeBound
	p.Status.Message, p.Status.Reason = "", ""
	if err := c.writer.Update(ctx, p); err != nil {
		return fmt.Errorf("volumebinding: persistentvolume %s: bind to claim %s: %w", pv.Name, reconcile.KeyOf(pvc), err)
	}
	return nil
}

// bindClaim sets pvc's volumeName, annotations, capacity and phase Bound.
func (c *Controller) bindClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) error {
	p := pvc.DeepCopy()
	if p.Spec.VolumeName == "" {
		p.Spec.VolumeName = pv.Name
		metav1.SetMetaDataAnnotation(&p.ObjectMeta, AnnBoundByController, "yes")
	}
	metav1.SetMetaDataAnnotation(&p.ObjectMeta, AnnBindCompleted, "yes")
	p.Status.Phase = corev1.ClaimBound
	p.Status.AccessModes = pv.Spec.AccessModes
	p.Status.Capacity = pv.Spec.Capacity
	if equalClaim(pvc, p) {
		return nil
	}
	if err := c.writer.Update(ctx, p); err != nil {
		return fmt.Errorf("volumebinding: persistentvolumeclaim %s: bind to volume %s: %w", reconcile.KeyOf(pvc), pv.Name, err)
	}
	c.log.Info("claim bound", "claim", reconcile.KeyOf(pvc), "volume", pv.Name)
	return nil
}

// equalClaim says whether binding changed nothing the controller writes.
func equalClaim(a, b *corev1.PersistentVolumeClaim) bool {
	return a.Spec.VolumeName == b.Spec.VolumeName && a.Status.Phase == b.Status.Phase &&
		a.Annotations[AnnBindCompleted] == b.Annotations[AnnBindCompleted] &&
		len(a.Status.AccessModes) == len(b.Status.AccessModes) &&
		a.Status.Capacity.Storage().Cmp(*b.Status.Capacity.Storage()) == 0
}

// ensurePending gives an unbound claim the phase Pending.
func (c *Controller) ensurePending(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Status.Phase == corev1.ClaimPending {
		return nil
	}
	return c.setClaimPhase(ctx, pvc, corev1.ClaimPending)
}

// setClaimPhase writes pvc's status.phase.
func (c *Controller) setClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase) error {
	p := pvc.DeepCopy()
	p.Status.Phase = phase
	if err := c.writer.Update(ctx, p); err != nil {
		return fmt.Errorf("volumebinding: persistentvolumeclaim %s: set phase %s: %w", reconcile.KeyOf(pvc), phase, err)
	}
	return nil
}

// claimRef returns the reference a PV keeps to pvc.
func claimRef(pvc *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		Kind: "PersistentVolumeClaim", APIVersion: "v1",
		Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
	}
}

// VolumeName returns the name of the PV bosun provisions for a claim.
func VolumeName(pvc *corev1.PersistentVolumeClaim) string { return "pvc-" + string(pvc.UID) }

// provision creates the node-local PV of pvc on node and returns it; nil
// with no error when the node cannot have one yet (an Event says why).
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, node string) (*corev1.PersistentVolume, error) {
	nobj, ok := c.nodes.Get("", node)
	if !ok {
		c.rec.Eventf(events.Ref(pvc), corev1.EventTypeWarning, ReasonProvisioningFailed, "node %q selected for the claim does not exist", node)
		return nil, nil
	}
	dir := nobj.GetAnnotations()[AnnLocalVolumeDir]
	if dir == "" {
		c.rec.Eventf(events.Ref(pvc), corev1.EventTypeWarning, ReasonProvisioningFailed,
			"node %q has no annotation %s: its agent has not registered a volume directory yet", node, AnnLocalVolumeDir)
		return nil, nil
	}
	pv, err := newLocalVolume(pvc, node, dir)
	if err != nil {
		c.rec.Event(events.Ref(pvc), corev1.EventTypeWarning, ReasonProvisioningFailed, err.Error())
		return nil, reconcile.Terminal(err)
	}
	if err := c.writer.Create(ctx, pv); err != nil {
		if errors.Is(err, api.ErrExists) {
			return nil, nil // made by an earlier pass; its event queues the claim
		}
		return nil, fmt.Errorf("volumebinding: persistentvolumeclaim %s: create volume %s: %w", reconcile.KeyOf(pvc), pv.Name, err)
	}
	c.rec.Eventf(events.Ref(pvc), corev1.EventTypeNormal, ReasonProvisioningSucceeded,
		"Successfully provisioned volume %s using %s", pv.Name, Provisioner)
	c.log.Info("volume provisioned", "claim", reconcile.KeyOf(pvc), "volume", pv.Name, "node", node, "path", pv.Spec.Local.Path)
	return pv, nil
}

// newLocalVolume returns the PV the provisioner writes for pvc on node,
// under the node's volume directory dir.
func newLocalVolume(pvc *corev1.PersistentVolumeClaim, node, dir string) (*corev1.PersistentVolume, error) {
	size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("volumebinding: persistentvolumeclaim %s: spec.resources.requests.storage: required to provision a volume", reconcile.KeyOf(pvc))
	}
	class := DefaultClass
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	name := VolumeName(pvc)
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	fs := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{AnnProvisionedBy: Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size.DeepCopy()},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              class,
			VolumeMode:                    &fs,
			ClaimRef:                      claimRef(pvc),
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				Local: &corev1.LocalVolumeSource{Path: path.Join(dir, name)},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}},
				}}},
			}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
	}, nil
}

package statefulset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
)

// claimName is the claim of template tmpl for set's pod with ordinal.
func claimName(set *appsv1.StatefulSet, tmpl string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", tmpl, set.Name, ordinal)
}

// retention returns set's persistentVolumeClaimRetentionPolicy with
// Kubernetes' defaults (Retain, Retain).
func retention(set *appsv1.StatefulSet) (whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) {
	whenDeleted, whenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		if p.WhenDeleted != "" {
			whenDeleted = p.WhenDeleted
		}
		if p.WhenScaled != "" {
			whenScaled = p.WhenScaled
		}
	}
	return whenDeleted, whenScaled
}

// wantOwners returns whether a claim of pod should be owned by set and by
// pod, per the retention policy, as Kubernetes' controller decides: the set
// owns it when whenDeleted is Delete (unless the pod was scaled away and
// whenScaled is Delete too), the pod owns it when it was scaled away and
// whenScaled is Delete.
func wantOwners(set *appsv1.StatefulSet, ordinal int) (bySet, byPod bool) {
	whenDeleted, whenScaled := retention(set)
	del := appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	scaledDown := !inRange(set, ordinal)
	byPod = whenScaled == del && scaledDown
	bySet = whenDeleted == del && !byPod
	return bySet, byPod
}

// ownerRef is a plain (not controller) owner reference to obj.
func ownerRef(apiVersion, kind string, obj metav1.Object) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID()}
}

// withOwners returns refs with set's and pod's references added or removed
// per bySet and byPod, and whether that changed anything.
func withOwners(refs []metav1.OwnerReference, set *appsv1.StatefulSet, pod *corev1.Pod, bySet, byPod bool) ([]metav1.OwnerReference, bool) {
	out := slices.Clone(refs)
	changed := false
	apply := func(want bool, ref metav1.OwnerReference) {
		i := slices.IndexFunc(out, func(r metav1.OwnerReference) bool { return r.UID == ref.UID })
		switch {
		case want && i < 0:
			out = append(out, ref)
			changed = true
		case !want && i >= 0:
			out = slices.Delete(out, i, i+1)
			changed = true
		}
	}
	apply(bySet, ownerRef("apps/v1", "StatefulSet", set))
	if pod != nil && pod.UID != "" {
		apply(byPod, ownerRef("v1", "Pod", pod))
	}
	return out, changed
}

// newClaim returns the claim of template tmpl for the pod with ordinal.
func newClaim(set *appsv1.StatefulSet, tmpl *corev1.PersistentVolumeClaim, ordinal int, pod *corev1.Pod) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   set.Namespace,
			Name:        claimName(set, tmpl.Name, ordinal),
			Labels:      maps.Clone(tmpl.Labels),
			Annotations: maps.Clone(tmpl.Annotations),
		},
		Spec:   *tmpl.Spec.DeepCopy(),
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	// Kubernetes labels the claims with the set's selector's labels.
	if set.Spec.Selector != nil && len(set.Spec.Selector.MatchLabels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, set.Spec.Selector.MatchLabels)
	}
	bySet, byPod := wantOwners(set, ordinal)
	c.OwnerReferences, _ = withOwners(nil, set, pod, bySet, byPod)
	return c
}

// ensureClaims creates the missing claims of the pod with ordinal (pod nil
// before it exists) and fixes the owner references of existing ones per
// the retention policy. A claim being deleted is an error: the pod must wait.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ordinal int, pod *corev1.Pod) error {
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		name := claimName(set, tmpl.Name, ordinal)
		obj, ok := c.claims.Get(set.Namespace, name)
		if !ok {
			if err := c.createClaim(ctx, set, newClaim(set, tmpl, ordinal, pod), ordinal); err != nil {
				return err
			}
			continue
		}
		claim := obj.(*corev1.PersistentVolumeClaim)
		if claim.DeletionTimestamp != nil {
			return fmt.Errorf("statefulset: %s/%s: claim %s is being deleted; pod %s waits for it to go",
				set.Namespace, set.Name, name, podName(set, ordinal))
		}
		if err := c.fixClaimOwners(ctx, set, claim, ordinal, pod); err != nil {
			return err
		}
	}
	return nil
}

// createClaim creates one claim and records Kubernetes' Event for it.
func (c *Controller) createClaim(ctx context.Context, set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, ordinal int) error {
	pod := podName(set, ordinal)
	err := c.writer.Create(ctx, claim)
	if err != nil && !errors.Is(err, api.ErrExists) {
		c.rec.Eventf(events.Ref(set), corev1.EventTypeWarning, ReasonFailedCreate,
			"create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim.Name, pod, set.Name, err)
		return fmt.Errorf("statefulset: %s/%s: create claim %s: %w", set.Namespace, set.Name, claim.Name, err)
	}
	if err == nil {
		c.rec.Eventf(events.Ref(set), corev1.EventTypeNormal, ReasonSuccessfulCreate,
			"create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod, set.Name)
	}
	return nil
}

// fixClaimOwners sets the owner references the retention policy asks for.
func (c *Controller) fixClaimOwners(ctx context.Context, set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, ordinal int, pod *corev1.Pod) error {
	bySet, byPod := wantOwners(set, ordinal)
	refs, changed := withOwners(claim.OwnerReferences, set, pod, bySet, byPod)
	if !changed {
		return nil
	}
	cl := claim.DeepCopy()
	cl.OwnerReferences = refs
	if err := c.writer.Update(ctx, cl); err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("statefulset: %s/%s: set owners of claim %s: %w", set.Namespace, set.Name, claim.Name, err)
	}
	return nil
}

package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/reconcile/volumebinding"
)

// ReasonVolumeNodeAffinity is kube-scheduler's VolumeBinding reason for a node
// that a bound PersistentVolume's node affinity excludes.
const ReasonVolumeNodeAffinity = "node(s) had volume node affinity conflict"

// podVolumes is what a pod's persistentVolumeClaim volumes ask of the
// scheduler, as kube-scheduler's VolumeBinding plugin computes it in PreFilter.
type podVolumes struct {
	// affinity holds the required node affinity of each bound PV: a node must
	// match every one.
	affinity []*corev1.NodeSelector
	// unbound holds the unbound claims of a provisionable class: each gets the
	// selected-node annotation with the binding (WaitForFirstConsumer).
	unbound []*corev1.PersistentVolumeClaim
}

// hasClaims says whether pod has persistentVolumeClaim volumes (the fast
// path: pods without claims read no claim).
func hasClaims(pod *corev1.Pod) bool {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].PersistentVolumeClaim != nil {
			return true
		}
	}
	return false
}

// volumesOf reads pod's claims and their volumes from the caches. A non-empty
// message says the pod fits no node whatever the node (kube-scheduler's
// PreFilter refusal), worded as kube-scheduler words it.
func (s *Scheduler) volumesOf(pod *corev1.Pod) (*podVolumes, string) {
	pv := &podVolumes{}
	for i := range pod.Spec.Volumes {
		src := pod.Spec.Volumes[i].PersistentVolumeClaim
		if src == nil {
			continue
		}
		obj, ok := s.claims.Get(pod.Namespace, src.ClaimName)
		if !ok {
			return nil, fmt.Sprintf("persistentvolumeclaim %q not found", src.ClaimName)
		}
		pvc := obj.(*corev1.PersistentVolumeClaim)
		if pvc.DeletionTimestamp != nil {
			return nil, fmt.Sprintf("persistentvolumeclaim %q is being deleted", src.ClaimName)
		}
		if msg := s.addClaim(pv, pvc); msg != "" {
			return nil, msg
		}
	}
	return pv, ""
}

// addClaim adds what one claim asks to pv, or returns why no node fits.
func (s *Scheduler) addClaim(pv *podVolumes, pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Spec.VolumeName == "" {
		if !volumebinding.Provisionable(pvc) {
			if cls := *pvc.Spec.StorageClassName; cls != "" {
				return fmt.Sprintf("storageclass.storage.k8s.io %q not found", cls)
			}
			return "pod has unbound immediate PersistentVolumeClaims"
		}
		pv.unbound = append(pv.unbound, pvc)
		return ""
	}
	obj, ok := s.volumes.Get("", pvc.Spec.VolumeName)
	if !ok {
		return fmt.Sprintf("persistentvolume %q not found", pvc.Spec.VolumeName)
	}
	vol := obj.(*corev1.PersistentVolume)
	if na := vol.Spec.NodeAffinity; na != nil && na.Required != nil {
		pv.affinity = append(pv.affinity, na.Required)
	}
	return ""
}

// volumesFit says whether node n matches every bound volume's node affinity
// (the terms of one selector are ORed; an empty term matches nothing).
func volumesFit(affinity []*corev1.NodeSelector, n *nodeInfo) bool {
	for _, sel := range affinity {
		ok := false
		for i := range sel.NodeSelectorTerms {
			if matchesTerm(&sel.NodeSelectorTerms[i], n) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// selectNode returns copies of the unbound claims annotated with node, for
// the claims whose annotation says otherwise.
func selectNode(unbound []*corev1.PersistentVolumeClaim, node string) (old, annotated []*corev1.PersistentVolumeClaim) {
	for _, pvc := range unbound {
		if pvc.Annotations[volumebinding.AnnSelectedNode] == node {
			continue
		}
		c := pvc.DeepCopy()
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[volumebinding.AnnSelectedNode] = node
		old, annotated = append(old, pvc), append(annotated, c)
	}
	return old, annotated
}

package cache

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
)

// Names of the ready-made indexes; add them with AddIndex(IndexOwnerUID,
// IndexByOwnerUID) and AddIndex(IndexNodeName, IndexByNodeName).
const (
	// IndexOwnerUID finds objects by the UID of any of their owners.
	IndexOwnerUID = "ownerUID"
	// IndexNodeName finds pods by spec.nodeName ("" for unscheduled pods).
	IndexNodeName = "nodeName"
)

// IndexByOwnerUID returns the UIDs of obj's metadata.ownerReferences.
func IndexByOwnerUID(obj api.Object) []string {
	refs := obj.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		out = append(out, string(ref.UID))
	}
	return out
}

// IndexByNodeName returns a pod's spec.nodeName ("" when not yet scheduled); other
// kinds are not indexed.
func IndexByNodeName(obj api.Object) []string {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	return []string{pod.Spec.NodeName}
}

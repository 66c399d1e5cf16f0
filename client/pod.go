package client

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// PodFor returns the name of the pod ref names in namespace ns, for logs
// and exec: "NAME" and "pod/NAME" name a pod; "deploy/NAME" and "rs/NAME"
// name one of the pods the Deployment's or ReplicaSet's selector picks, as
// kubectl does: running pods first, then the newest, then by name. Pods
// being deleted are never picked.
func (c *Client) PodFor(ctx context.Context, ns, ref string) (string, error) {
	kind, name, ok := strings.Cut(ref, "/")
	if !ok {
		return ref, nil
	}
	if name == "" {
		return "", fmt.Errorf("%q: want KIND/NAME, e.g. deploy/web", ref)
	}
	r, found := api.Lookup(kind)
	if !found {
		return "", fmt.Errorf("%q: unknown kind %q (want pod, deploy or rs)", ref, kind)
	}
	var sel *metav1.LabelSelector
	switch r.Name {
	case "pods":
		return name, nil
	case "deployments", "replicasets":
		obj, err := c.Get(ctx, r, ns, name)
		if err != nil {
			return "", err
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			sel = o.Spec.Selector
		case *appsv1.ReplicaSet:
			sel = o.Spec.Selector
		}
	default:
		return "", fmt.Errorf("%q: logs and exec take a pod, a deployment or a replicaset, not %s", ref, r.Name)
	}
	// A nil selector converts to one that selects nothing but prints as ""
	// (which lists every pod), so it is refused before conversion.
	if sel == nil {
		return "", fmt.Errorf("%s %s has no usable selector", r.Name, name)
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return "", fmt.Errorf("%s %s has no usable selector", r.Name, name)
	}
	pods, _ := api.Lookup("pods")
	objs, err := c.List(ctx, pods, ns, s.String())
	if err != nil {
		return "", err
	}
	var cands []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.DeletionTimestamp == nil {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("%s %s in namespace %s has no pods", r.Name, name, ns)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, rj := cands[i].Status.Phase == corev1.PodRunning, cands[j].Status.Phase == corev1.PodRunning
		if ri != rj {
			return ri
		}
		if !cands[i].CreationTimestamp.Equal(&cands[j].CreationTimestamp) {
			return cands[j].CreationTimestamp.Before(&cands[i].CreationTimestamp)
		}
		return cands[i].Name < cands[j].Name
	})
	return cands[0].Name, nil
}

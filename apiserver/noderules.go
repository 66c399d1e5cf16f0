package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/versionskew"
	"github.com/bosun-dev/bosun/store"
)

// What node credentials may do: Kubernetes' node authorizer (verbs and
// names, before the handler runs: authorizeNode) and its NodeRestriction
// admission plugin (the objects' content, in the write handlers: admit),
// written for bosun's resources.

// restrictedLabelPrefix marks Node labels a node may not set or change
// itself (NodeRestriction's node-restriction.kubernetes.io/), so that
// workloads can be steered by labels only an admin sets.
const restrictedLabelPrefix = "node-restriction.kubernetes.io/"

func readVerb(verb string) bool { return verb == "get" || verb == "list" || verb == "watch" }

// authorizeNode decides the requests of node credential u of node.
func (s *Server) authorizeNode(ctx context.Context, u api.User, node string, req *http.Request, ri requestInfo) *apiError {
	if !ri.resourceRequest {
		if ri.path == api.PathCertificates && req.Method == http.MethodPost {
			return nil
		}
		return forbidden(u, ri, "a node may only use discovery, health and the renewal of its own certificate")
	}
	switch ri.group + "/" + ri.resource {
	case "/nodes":
		if ri.subresource != "" && ri.subresource != "status" {
			break
		}
		switch ri.verb {
		case "get", "list", "watch", "create": // create: admit checks the name
			return nil
		case "update", "patch", "delete":
			if ri.name == node {
				return nil
			}
			return forbidden(u, ri, "a node may only modify its own Node object")
		}
	case "/pods":
		why := "a node may only read pods, create and delete its mirror pods, delete pods bound to it and update the status of pods bound to it"
		switch {
		case ri.subresource == "" && (readVerb(ri.verb) || ri.verb == "create" || ri.verb == "delete"):
			return nil // create and delete: admit checks the pod
		case ri.subresource == "status" && (ri.verb == "get" || ri.verb == "update" || ri.verb == "patch"):
			return nil
		}
		return forbidden(u, ri, why)
	case "/services", "/endpoints", "discovery.k8s.io/endpointslices":
		if ri.subresource == "" && readVerb(ri.verb) {
			return nil
		}
		return forbidden(u, ri, "a node may only read services and endpoints")
	case "coordination.k8s.io/leases":
		if ri.namespace != corev1.NamespaceNodeLease {
			return forbidden(u, ri, fmt.Sprintf("a node may only use leases in the namespace %q", corev1.NamespaceNodeLease))
		}
		switch {
		case ri.subresource != "":
		case readVerb(ri.verb) || ri.verb == "create": // create: admit checks the name
			return nil
		case ri.verb == "update" || ri.verb == "patch" || ri.verb == "delete":
			if ri.name == node {
				return nil
			}
			return forbidden(u, ri, fmt.Sprintf("a node may only modify its own Lease %s/%s", corev1.NamespaceNodeLease, node))
		}
	case "/events", "events.k8s.io/events":
		if ri.subresource == "" && (ri.verb == "create" || ri.verb == "update" || ri.verb == "patch") {
			return nil
		}
		return forbidden(u, ri, "a node may only create and update events")
	case "/secrets", "/configmaps", "/persistentvolumeclaims":
		return s.authorizeNodeRead(ctx, u, node, ri)
	case "/persistentvolumes":
		// Kubernetes lets a node get the volumes of its pods' claims; bosun's
		// agents also list and watch them to remove the directories of the
		// node-local volumes deleted meanwhile. Volumes hold no secrets.
		if ri.subresource == "" && readVerb(ri.verb) {
			return nil
		}
		return forbidden(u, ri, "a node may only read persistentvolumes")
	}
	return forbidden(u, ri, "nodes have no access to this resource")
}

// authorizeNodeRead lets a node get a Secret, ConfigMap or
// PersistentVolumeClaim one by one, and
// only when a pod bound to it uses it (the node authorizer's graph:
// node <- pod <- secret).
func (s *Server) authorizeNodeRead(ctx context.Context, u api.User, node string, ri requestInfo) *apiError {
	kind := strings.TrimSuffix(ri.resource, "s")
	if ri.verb != "get" || ri.subresource != "" || ri.name == "" || ri.namespace == "" {
		return forbidden(u, ri, fmt.Sprintf("a node may only get the %ss its pods use, one by one: not list, watch or change them", kind))
	}
	pods, _ := api.Lookup("pods")
	objs, _, err := s.cfg.Store.List(ctx, pods, ri.namespace, store.ListOptions{})
	if err != nil {
		return errInternal(fmt.Errorf("apiserver: list the pods of node %s: %w", node, err))
	}
	for _, o := range objs {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Spec.NodeName != node {
			continue
		}
		secrets, configMaps := podReferences(p)
		refs := secrets
		switch ri.resource {
		case "configmaps":
			refs = configMaps
		case "persistentvolumeclaims":
			refs = podClaims(p)
		}
		for _, n := range refs {
			if n == ri.name {
				return nil
			}
		}
	}
	return forbidden(u, ri, fmt.Sprintf("no relationship found between node %q and this object: no pod bound to the node uses this %s", node, kind))
}

// podClaims returns the names of the PersistentVolumeClaims pod's volumes use.
func podClaims(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// podReferences returns the names of the Secrets and ConfigMaps pod uses:
// volumes (also projected), env, envFrom and image pull secrets of all its
// containers.
func podReferences(pod *corev1.Pod) (secrets, configMaps []string) {
	for _, s := range pod.Spec.ImagePullSecrets {
		secrets = append(secrets, s.Name)
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			secrets = append(secrets, v.Secret.SecretName)
		case v.ConfigMap != nil:
			configMaps = append(configMaps, v.ConfigMap.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					secrets = append(secrets, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					configMaps = append(configMaps, src.ConfigMap.Name)
				}
			}
		}
	}
	visit := func(envFrom []corev1.EnvFromSource, env []corev1.EnvVar) {
		for _, ef := range envFrom {
			if ef.SecretRef != nil {
				secrets = append(secrets, ef.SecretRef.Name)
			}
			if ef.ConfigMapRef != nil {
				configMaps = append(configMaps, ef.ConfigMapRef.Name)
			}
		}
		for _, e := range env {
			if e.ValueFrom == nil {
				continue
			}
			if e.ValueFrom.SecretKeyRef != nil {
				secrets = append(secrets, e.ValueFrom.SecretKeyRef.Name)
			}
			if e.ValueFrom.ConfigMapKeyRef != nil {
				configMaps = append(configMaps, e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		visit(c.EnvFrom, c.Env)
	}
	for _, c := range pod.Spec.Containers {
		visit(c.EnvFrom, c.Env)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		visit(c.EnvFrom, c.Env)
	}
	return secrets, configMaps
}

// admit judges the content of a write by a node credential (NodeRestriction);
// other identities pass. old is the stored object (nil for a create), obj
// the one written (nil for a delete).
func (s *Server) admit(req *http.Request, t target, old, obj api.Object) *apiError {
	u, _ := UserFrom(req.Context())
	node, isNode := u.NodeName()
	if !isNode {
		return nil
	}
	ri, ok := requestInfoFrom(req.Context())
	if !ok {
		return errInternal(fmt.Errorf("apiserver: no request info for a node's write to %s", t.r.Name))
	}
	if ri.name == "" && obj != nil {
		ri.name = obj.GetName()
	}
	deny := func(format string, args ...any) *apiError { return forbidden(u, ri, fmt.Sprintf(format, args...)) }
	switch t.r.Group + "/" + t.r.Name {
	case "/nodes":
		if obj == nil {
			return nil
		}
		if obj.GetName() != node {
			return deny("a node may only create or modify its own Node object")
		}
		if n, _ := obj.(*corev1.Node); n != nil {
			if err := versionskew.Check(s.cfg.Version, n.Status.NodeInfo.KubeletVersion); err != nil {
				return deny("node %q may not register: %v", node, err)
			}
		}
		var was map[string]string
		if old != nil {
			was = old.GetLabels()
		}
		if t.sub != "" {
			return nil // a status write keeps the rest of the stored object
		}
		if l := changedRestrictedLabel(was, obj.GetLabels()); l != "" {
			return deny("node %q may not set or change the label %s: labels under %s are set by admins only", node, l, restrictedLabelPrefix)
		}
		n, _ := obj.(*corev1.Node)
		o, _ := old.(*corev1.Node)
		if o == nil {
			o = &corev1.Node{}
		}
		if n == nil {
			return deny("not a node")
		}
		if n.Spec.PodCIDR != o.Spec.PodCIDR || !slices.Equal(n.Spec.PodCIDRs, o.Spec.PodCIDRs) {
			return deny("node %q may not set or change its pod CIDR: the control plane assigns it", node)
		}
		if old != nil && !apiequality.Semantic.DeepEqual(n.Spec.Taints, o.Spec.Taints) {
			return deny("node %q may not change its taints: the control plane and admins set them", node)
		}
	case "/pods":
		switch {
		case old == nil: // create
			p, _ := obj.(*corev1.Pod)
			return admitMirrorPod(node, p, deny)
		case obj == nil: // delete
			if p, _ := old.(*corev1.Pod); p == nil || p.Spec.NodeName != node {
				return deny("node %q may only delete pods with spec.nodeName set to itself", node)
			}
		case t.sub == "status":
			if p, _ := old.(*corev1.Pod); p == nil || p.Spec.NodeName != node {
				return deny("node %q may only update the status of pods with spec.nodeName set to itself", node)
			}
		default:
			return deny("node %q may not change pods, only their status", node)
		}
	case "coordination.k8s.io/leases":
		if obj != nil && obj.GetName() != node {
			return deny("a node may only create or modify its own Lease %s/%s", corev1.NamespaceNodeLease, node)
		}
	}
	return nil
}

// admitMirrorPod lets a node create only the mirror pod of one of its
// static pods: the config.mirror annotation, bound to the node, owned by
// nothing but the node, using no Secret or ConfigMap (else a node could
// grant itself access to any of them).
func admitMirrorPod(node string, p *corev1.Pod, deny func(string, ...any) *apiError) *apiError {
	if p == nil {
		return deny("not a pod")
	}
	if _, ok := p.Annotations[annotationMirror]; !ok {
		return deny("pod does not have the %q annotation: node %q may only create mirror pods", annotationMirror, node)
	}
	if p.Spec.NodeName != node {
		return deny("node %q may only create pods with spec.nodeName set to itself", node)
	}
	for _, o := range p.OwnerReferences {
		if o.APIVersion != "v1" || o.Kind != "Node" || o.Name != node {
			return deny("node %q may only create pods owned by its own Node object", node)
		}
	}
	secrets, configMaps := podReferences(p)
	if len(secrets) > 0 {
		return deny("node %q may not create pods that use secrets", node)
	}
	if len(configMaps) > 0 {
		return deny("node %q may not create pods that use configmaps", node)
	}
	return nil
}

// changedRestrictedLabel returns a label under restrictedLabelPrefix that
// differs between old and now, or "".
func changedRestrictedLabel(old, now map[string]string) string {
	for k, v := range now {
		if strings.HasPrefix(k, restrictedLabelPrefix) {
			if ov, ok := old[k]; !ok || ov != v {
				return k
			}
		}
	}
	for k := range old {
		if _, ok := now[k]; !ok && strings.HasPrefix(k, restrictedLabelPrefix) {
			return k
		}
	}
	return ""
}

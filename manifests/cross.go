package manifests

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// wellKnownNamespaces exist in every cluster without a Namespace object.
var wellKnownNamespaces = []string{"default", "kube-system"}

// where renders an object's position for messages: "apps/web.yaml:3", or
// for a rendered object "base/web.yaml:3 (rendered by overlays/prod/kustomization.yaml)".
func where(o Object) string {
	s := o.File
	if o.Line > 0 {
		s = fmt.Sprintf("%s:%d", o.File, o.Line)
	}
	return s + renderedNote(o.RenderedBy)
}

// renderedNote is the suffix of every problem about an object rendered by
// the file renderedBy: " (rendered by overlays/prod/kustomization.yaml)";
// "" for a plain manifest.
func renderedNote(renderedBy string) string {
	if renderedBy == "" {
		return ""
	}
	return " (rendered by " + renderedBy + ")"
}

// podTemplateLabels returns the pod labels an object creates pods with.
func podTemplateLabels(obj Obj) (map[string]string, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return o.Labels, true
	case *corev1.ReplicationController:
		if o.Spec.Template != nil {
			return o.Spec.Template.Labels, true
		}
	case *appsv1.ReplicaSet:
		return o.Spec.Template.Labels, true
	case *appsv1.Deployment:
		return o.Spec.Template.Labels, true
	case *appsv1.DaemonSet:
		return o.Spec.Template.Labels, true
	case *appsv1.StatefulSet:
		return o.Spec.Template.Labels, true
	case *batchv1.Job:
		return o.Spec.Template.Labels, true
	case *batchv1.CronJob:
		return o.Spec.JobTemplate.Spec.Template.Labels, true
	}
	return nil, false
}

// problemAt builds a problem about the field at path of o.
func problemAt(o Object, path, msg string, warning bool) Problem {
	return Problem{File: o.File, Line: fieldLine(o, path), Object: objectLabel(o.ID()), Field: path, Message: msg + renderedNote(o.RenderedBy), Warning: warning}
}

// crossValidate checks the set of objects as a whole; complete is false
// when the set is only part of the tree (see validate).
func crossValidate(objs []Object, opts Options, complete bool) Problems {
	order := make([]int, 0, len(objs))
	for i, o := range objs {
		if o.Obj != nil {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		oa, ob := objs[order[a]], objs[order[b]]
		if oa.File != ob.File {
			return oa.File < ob.File
		}
		return oa.Line < ob.Line
	})

	var ps Problems
	seen := make(map[ID]Object, len(objs))
	namespaces := map[string]bool{}
	for _, ns := range wellKnownNamespaces {
		namespaces[ns] = true
	}
	var unique []Object
	for _, i := range order {
		o := objs[i]
		id := o.ID()
		if id.Name == "" {
			continue // reported by the object's own validation
		}
		if first, dup := seen[id]; dup {
			ps = append(ps, Problem{File: o.File, Line: o.Line, Object: objectLabel(id), Message: duplicateMessage(id, first, o)})
			continue
		}
		seen[id] = o
		unique = append(unique, o)
		if ns, ok := o.Obj.(*corev1.Namespace); ok {
			namespaces[ns.Name] = true
		}
	}

	// Pod templates by namespace, for Service selectors.
	templates := map[string][]labels.Set{}
	for _, o := range unique {
		if l, ok := podTemplateLabels(o.Obj); ok {
			templates[o.Obj.GetNamespace()] = append(templates[o.Obj.GetNamespace()], labels.Set(l))
		}
	}

	alloc := newAllocations(unique, opts)
	for _, o := range unique {
		if ns := o.Obj.GetNamespace(); complete && ns != "" && isNamespaced(o.GVK().Kind) && !namespaces[ns] && len(validation.IsDNS1123Label(ns)) == 0 {
			if p, ok := missingNamespace(o, ns, opts.Live); ok {
				ps = append(ps, p)
			}
		}
		if complete {
			ps = append(ps, referenceWarnings(o, seen)...)
		}
		svc, ok := o.Obj.(*corev1.Service)
		if !ok {
			continue
		}
		if complete {
			ps = append(ps, selectorWarnings(o, svc, templates)...)
		}
		ps = append(ps, alloc.check(o, svc)...)
	}
	return ps
}

// duplicateMessage says that id is defined by both first and again. A
// message about a rendered object ends with the file that rendered it,
// as every problem about one does.
func duplicateMessage(id ID, first, again Object) string {
	if again.RenderedBy != "" {
		return fmt.Sprintf("duplicate object: keep one of the definitions of %s, at %s and at %s", id, where(first), where(again))
	}
	return fmt.Sprintf("duplicate object: %s is defined both at %s and at %s; keep one", id, where(first), where(again))
}

// missingNamespace reports an object in namespace ns, which the tree does
// not define: a warning offline (live nil) or when the sync creates missing
// namespaces, an error when the cluster has no such namespace.
func missingNamespace(o Object, ns string, live *LiveState) (Problem, bool) {
	switch {
	case live == nil:
		return problemAt(o, "metadata.namespace", fmt.Sprintf(
			"namespace %q is not defined in this tree: add a Namespace object named %q (only default and kube-system exist without one)", ns, ns), true), true
	case live.Namespaces[ns]:
		return Problem{}, false
	case live.CreateNamespaces:
		return problemAt(o, "metadata.namespace", fmt.Sprintf(
			"namespace %q does not exist in the cluster and the commit defines no Namespace %q: the sync creates it (--create-namespaces), outside Git, so it is never pruned", ns, ns), true), true
	}
	return problemAt(o, "metadata.namespace", fmt.Sprintf(
		"namespace %q does not exist in the cluster and the commit defines no Namespace %q: add one, or run the server with --create-namespaces", ns, ns), false), true
}

// selectorWarnings warns when a Service's selector matches no pod template
// of its namespace.
func selectorWarnings(o Object, svc *corev1.Service, templates map[string][]labels.Set) Problems {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, l := range templates[svc.Namespace] {
		if sel.Matches(l) {
			return nil
		}
	}
	return Problems{problemAt(o, "spec.selector", fmt.Sprintf(
		"selector %s matches no pod template (of a Pod, ReplicationController, ReplicaSet, Deployment, DaemonSet, StatefulSet, Job or CronJob) in namespace %s", sel.String(), svc.Namespace), true)}
}

// scalableKinds are the kinds bosun's autoscaler scales, by API group.
var scalableKinds = map[string]string{"Deployment": "apps", "StatefulSet": "apps", "ReplicaSet": "apps", "ReplicationController": ""}

// referenceWarnings warns when an object names another that the commit
// does not define: an HPA's scaleTargetRef, a StatefulSet's serviceName.
func referenceWarnings(o Object, seen map[ID]Object) Problems {
	ns := o.Obj.GetNamespace()
	switch x := o.Obj.(type) {
	case *autoscalingv2.HorizontalPodAutoscaler:
		ref := x.Spec.ScaleTargetRef
		group, ok := scalableKinds[ref.Kind]
		if ref.Kind == "" || ref.Name == "" {
			return nil // reported by the object's own validation
		}
		if !ok {
			return Problems{problemAt(o, "spec.scaleTargetRef.kind", fmt.Sprintf(
				"bosun's autoscaler scales Deployments, StatefulSets, ReplicaSets and ReplicationControllers, not %s: this HPA does nothing", ref.Kind), true)}
		}
		if _, found := seen[ID{Group: group, Kind: ref.Kind, Namespace: ns, Name: ref.Name}]; !found {
			return Problems{problemAt(o, "spec.scaleTargetRef.name", fmt.Sprintf(
				"%s %s/%s is not defined in this commit: the HPA scales nothing until it exists", ref.Kind, ns, ref.Name), true)}
		}
	case *appsv1.StatefulSet:
		name := x.Spec.ServiceName
		if name == "" {
			return nil
		}
		svc, found := seen[ID{Kind: "Service", Namespace: ns, Name: name}]
		if !found {
			return Problems{problemAt(o, "spec.serviceName", fmt.Sprintf(
				"Service %s/%s is not defined in this commit: the pods get no stable DNS names (<pod>.%s) until a headless Service (clusterIP: None) of that name exists", ns, name, name), true)}
		}
		if s, ok := svc.Obj.(*corev1.Service); ok && s.Spec.ClusterIP != corev1.ClusterIPNone {
			return Problems{problemAt(o, "spec.serviceName", fmt.Sprintf(
				"Service %s/%s (%s) is not headless: the pods get stable DNS names (<pod>.%s) only from a Service with clusterIP: None", ns, name, where(svc), name), true)}
		}
	}
	return nil
}

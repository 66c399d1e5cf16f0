package daemonset

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	schedcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Labels and annotations of daemon pods and revisions, as Kubernetes names them.
const (
	// LabelRevisionHash is set on every daemon pod and ControllerRevision to
	// the hash of the DaemonSet's template that made it.
	LabelRevisionHash = appsv1.DefaultDaemonSetUniqueLabelKey // "controller-revision-hash"
	// LabelTemplateGeneration is set on every daemon pod to the template
	// generation of the DaemonSet that made it.
	LabelTemplateGeneration = "pod-template-generation"
	// AnnotationTemplateGeneration is where kube-apiserver keeps a
	// DaemonSet's template generation. When it is absent (bosun's API does not
	// write it) the revision number of the current ControllerRevision is used:
	// both start at 1 and grow by one with every template change.
	AnnotationTemplateGeneration = appsv1.DeprecatedTemplateGeneration // "deprecated.daemonset.template.generation"
)

// Taint keys of the tolerations every daemon pod gets, as Kubernetes'
// daemon controller adds them.
const (
	taintNotReady           = "node.kubernetes.io/not-ready"
	taintUnreachable        = "node.kubernetes.io/unreachable"
	taintDiskPressure       = "node.kubernetes.io/disk-pressure"
	taintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	taintPIDPressure        = "node.kubernetes.io/pid-pressure"
	taintUnschedulable      = "node.kubernetes.io/unschedulable"
	taintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// addDaemonTolerations adds to spec the tolerations Kubernetes gives every
// daemon pod (not-ready and unreachable NoExecute; disk, memory and PID
// pressure and unschedulable NoSchedule; network-unavailable NoSchedule for
// hostNetwork pods), replacing a toleration of the same key and effect.
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := func(key string, effect corev1.TaintEffect) {
		t := corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
		for i := range spec.Tolerations {
			if spec.Tolerations[i].Key == key && spec.Tolerations[i].Effect == effect {
				spec.Tolerations[i] = t
				return
			}
		}
		spec.Tolerations = append(spec.Tolerations, t)
	}
	add(taintNotReady, corev1.TaintEffectNoExecute)
	add(taintUnreachable, corev1.TaintEffectNoExecute)
	add(taintDiskPressure, corev1.TaintEffectNoSchedule)
	add(taintMemoryPressure, corev1.TaintEffectNoSchedule)
	add(taintPIDPressure, corev1.TaintEffectNoSchedule)
	add(taintUnschedulable, corev1.TaintEffectNoSchedule)
	if spec.HostNetwork {
		add(taintNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
}

// eligibility is a node's verdict for one DaemonSet, as Kubernetes'
// NodeShouldRunDaemonPod gives it: shouldRun means a daemon pod belongs on the
// node; shouldContinue means a daemon pod already there may stay (the node
// has only NoSchedule taints the pod does not tolerate).
type eligibility struct {
	shouldRun, shouldContinue bool
}

// judge decides whether ds's daemon pod should run on node: the template's
// nodeName (if any) must be the node, the nodeSelector and required node
// affinity must match the node, and every NoSchedule and NoExecute taint must
// be tolerated by the template's tolerations plus the daemon ones.
func judge(ds *appsv1.DaemonSet, tols []corev1.Toleration, node *corev1.Node) eligibility {
	spec := &ds.Spec.Template.Spec
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return eligibility{}
	}
	// A parse error of a term means no match, as in Kubernetes.
	fits, _ := nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity).Match(node)
	if !fits {
		return eligibility{}
	}
	logger := klog.Background()
	taints := node.Spec.Taints
	_, untolerated := schedcorev1.FindMatchingUntoleratedTaint(logger, taints, tols, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute || t.Effect == corev1.TaintEffectNoSchedule
	}, false)
	if !untolerated {
		return eligibility{shouldRun: true, shouldContinue: true}
	}
	_, untoleratedNoExecute := schedcorev1.FindMatchingUntoleratedTaint(logger, taints, tols, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return eligibility{shouldContinue: !untoleratedNoExecute}
}

// daemonTolerations returns the template's tolerations plus the daemon ones.
func daemonTolerations(ds *appsv1.DaemonSet) []corev1.Toleration {
	spec := corev1.PodSpec{Tolerations: slices.Clone(ds.Spec.Template.Spec.Tolerations), HostNetwork: ds.Spec.Template.Spec.HostNetwork}
	addDaemonTolerations(&spec)
	return spec.Tolerations
}

// newPod returns ds's daemon pod for node: the template with the daemon
// tolerations, the revision hash and template generation labels, the
// controller reference, and its required node affinity replaced by
// matchFields metadata.name In [node] (the scheduler binds it there).
func newPod(ds *appsv1.DaemonSet, node, hash string, generation int64, ref metav1.OwnerReference) *corev1.Pod {
	tmpl := &ds.Spec.Template
	labels := maps.Clone(tmpl.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelTemplateGeneration] = strconv.FormatInt(generation, 10)
	labels[LabelRevisionHash] = hash
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       ds.Namespace,
			GenerateName:    ds.Name + "-",
			Labels:          labels,
			Annotations:     maps.Clone(tmpl.Annotations),
			Finalizers:      slices.Clone(tmpl.Finalizers),
			OwnerReferences: []metav1.OwnerReference{ref},
		},
		Spec:   *tmpl.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	addDaemonTolerations(&p.Spec)
	p.Spec.Affinity = withNodeNameAffinity(p.Spec.Affinity, node)
	return p
}

// withNodeNameAffinity returns a (changed in place, or new) with its required
// node affinity replaced by the one term matchFields metadata.name In [node],
// as Kubernetes' ReplaceDaemonSetPodNodeNameNodeAffinity does: the controller
// already checked the DaemonSet's own affinity against the node.
func withNodeNameAffinity(a *corev1.Affinity, node string) *corev1.Affinity {
	sel := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
	}}}
	if a == nil {
		a = &corev1.Affinity{}
	}
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = sel
	return a
}

// targetNode returns the node a daemon pod is for: spec.nodeName once bound,
// else the node of its matchFields metadata.name affinity term, as
// Kubernetes' GetTargetNodeName.
func targetNode(p *corev1.Pod) (string, error) {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName, nil
	}
	a := p.Spec.Affinity
	if a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, r := range t.MatchFields {
				if r.Key == metav1.ObjectNameField && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
					return r.Values[0], nil
				}
			}
		}
	}
	return "", fmt.Errorf("pod %s/%s has neither spec.nodeName nor a metadata.name node affinity", p.Namespace, p.Name)
}

package scheduler

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Reasons a node is refused, worded exactly as kube-scheduler's filter plugins
// word them (they appear, counted, in the PodScheduled=False message).
const (
	ReasonNotReady         = "node(s) were not ready"
	ReasonUnschedulable    = "node(s) were unschedulable"
	ReasonNodeAffinity     = "node(s) didn't match Pod's node affinity/selector"
	ReasonHostPorts        = "node(s) didn't have free ports for the requested pod ports"
	ReasonInsufficientCPU  = "Insufficient cpu"
	ReasonInsufficientMem  = "Insufficient memory"
	ReasonTooManyPods      = "Too many pods"
	reasonUntoleratedTaint = "node(s) had untolerated taint {%s: %s}"
)

// Taint keys kube-scheduler and the node lifecycle controller use.
const (
	TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"
	TaintNodeNotReady      = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable   = "node.kubernetes.io/unreachable"
)

// reason indexes the fixed reasons counted by a failed scheduling attempt.
type reason int

const (
	rNotReady reason = iota
	rUnschedulable
	rAffinity
	rPorts
	rTooManyPods
	rCPU
	rMem
	rVolumeAffinity
	numReasons
)

var reasonText = [numReasons]string{
	rNotReady:       ReasonNotReady,
	rUnschedulable:  ReasonUnschedulable,
	rAffinity:       ReasonNodeAffinity,
	rPorts:          ReasonHostPorts,
	rTooManyPods:    ReasonTooManyPods,
	rCPU:            ReasonInsufficientCPU,
	rMem:            ReasonInsufficientMem,
	rVolumeAffinity: ReasonVolumeNodeAffinity,
}

// taintKV names an untolerated taint in a failure count.
type taintKV struct{ key, value string }

// diagnosis counts why nodes were refused during one scheduling attempt.
type diagnosis struct {
	counts [numReasons]int
	taints map[taintKV]int
}

func (d *diagnosis) reset() {
	d.counts = [numReasons]int{}
	d.taints = nil
}

// tolerates says whether one of tols tolerates the taint (key, value, effect),
// with Kubernetes' rules: a toleration's empty effect matches every effect, an
// empty key (only with Exists) every key; Exists matches any value, Equal (or
// no operator) the same value.
func tolerates(tols []corev1.Toleration, key, value string, effect corev1.TaintEffect) bool {
	for i := range tols {
		t := &tols[i]
		if t.Effect != "" && t.Effect != effect {
			continue
		}
		if t.Key != "" && t.Key != key {
			continue
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if t.Value == value {
				return true
			}
		}
	}
	return false
}

// filter runs every filter on one node for pod (whose requests are pr and
// whose bound volumes require volumeAffinity) and
// returns whether the node fits; when it does not, the reasons are counted in d.
// The order is kube-scheduler's plugin order: node condition, NodeUnschedulable,
// TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, VolumeBinding (the
// node affinity of the pod's bound volumes); the first failing filter decides,
// and NodeResourcesFit may give several reasons.
func filter(n *nodeInfo, pod *corev1.Pod, pr *podReq, volumeAffinity []*corev1.NodeSelector, d *diagnosis) bool {
	tols := pod.Spec.Tolerations
	if !n.ready {
		key := TaintNodeNotReady
		if n.readyUnknown {
			key = TaintNodeUnreachable
		}
		if !tolerates(tols, key, "", corev1.TaintEffectNoSchedule) {
			d.counts[rNotReady]++
			return false
		}
	}
	if n.unschedulable && !tolerates(tols, TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule) {
		d.counts[rUnschedulable]++
		return false
	}
	for i := range n.taints {
		t := &n.taints[i]
		if !tolerates(tols, t.Key, t.Value, t.Effect) {
			if d.taints == nil {
				d.taints = make(map[taintKV]int)
			}
			d.taints[taintKV{t.Key, t.Value}]++
			return false
		}
	}
	if !matchesNodeSelector(pod, n) {
		d.counts[rAffinity]++
		return false
	}
	for _, p := range pr.ports {
		if n.portTaken(p) {
			d.counts[rPorts]++
			return false
		}
	}
	fits := true
	if n.pods+1 > n.allocPods {
		d.counts[rTooManyPods]++
		fits = false
	}
	if pr.cpu > 0 && pr.cpu > n.allocCPU-n.reqCPU {
		d.counts[rCPU]++
		fits = false
	}
	if pr.mem > 0 && pr.mem > n.allocMem-n.reqMem {
		d.counts[rMem]++
		fits = false
	}
	if fits && len(volumeAffinity) > 0 && !volumesFit(volumeAffinity, n) {
		d.counts[rVolumeAffinity]++
		return false
	}
	return fits
}

// matchesNodeSelector says whether the node satisfies the pod's nodeSelector and
// its required node affinity (both must hold).
func matchesNodeSelector(pod *corev1.Pod, n *nodeInfo) bool {
	for k, v := range pod.Spec.NodeSelector {
		if lv, ok := n.labels[k]; !ok || lv != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	// The terms are ORed; an empty term matches no node.
	for i := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if matchesTerm(&a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[i], n) {
			return true
		}
	}
	return false
}

// matchesTerm says whether every requirement of one node selector term holds.
func matchesTerm(t *corev1.NodeSelectorTerm, n *nodeInfo) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for i := range t.MatchExpressions {
		r := &t.MatchExpressions[i]
		v, ok := n.labels[r.Key]
		if !matchesRequirement(r, v, ok) {
			return false
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" {
			return false // the only field Kubernetes supports
		}
		if r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn {
			return false
		}
		if !matchesRequirement(r, n.name, true) {
			return false
		}
	}
	return true
}

// matchesRequirement applies one requirement to a label value v (ok: present).
func matchesRequirement(r *corev1.NodeSelectorRequirement, v string, ok bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return ok && contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !ok || !contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return ok
	case corev1.NodeSelectorOpDoesNotExist:
		return !ok
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !ok || len(r.Values) != 1 {
			return false
		}
		lv, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		rv, err := strconv.ParseInt(r.Values[0], 10, 64)
		if err != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return lv > rv
		}
		return lv < rv
	}
	return false
}

func contains(vs []string, v string) bool {
	for _, s := range vs {
		if s == v {
			return true
		}
	}
	return false
}

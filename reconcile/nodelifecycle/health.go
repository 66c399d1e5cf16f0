package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
)

// Reasons and messages of the conditions the controller writes, as Kubernetes'.
const (
	ReasonNodeStatusUnknown      = "NodeStatusUnknown"
	MessageNodeStatusUnknown     = "Kubelet stopped posting node status."
	ReasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	MessageNodeNeverUpdated      = "Kubelet never posted node status."
	// ReasonNodeUnreachable is the reason of the Ready=False condition put on the
	// pods of an unreachable node.
	ReasonNodeUnreachable = "NodeUnreachable"
)

// watchedConditions are the node conditions set to Unknown when the node stops
// posting status (NetworkUnavailable is left alone, as in Kubernetes).
var watchedConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// nodeHealth is what the controller last saw of a node's heartbeats, and when it
// saw them change, on its own clock. Comparing the agent's timestamps only with
// earlier values of themselves, never with the controller's clock, makes the
// judgement immune to clock skew between machines.
type nodeHealth struct {
	probe     time.Time // controller time of the last observed heartbeat change
	renew     time.Time // Lease spec.renewTime last seen
	heartbeat time.Time // Ready condition lastHeartbeatTime last seen
	// reconciled is the controller time of the last finished Reconcile (tests).
	reconciled time.Time
	// taintSeen is when the controller first saw a lifecycle taint without
	// timeAdded (written by someone else), by taint key.
	taintSeen map[string]time.Time
}

// observe updates the node's health record from the cached node and Lease and
// returns a copy of it. The first observation counts as a heartbeat, so a node
// (or a restarted controller) gets a full grace period.
func (c *Controller) observe(node *corev1.Node, now time.Time) nodeHealth {
	var renew, hb time.Time
	if l := c.leaseOf(node.Name); l != nil && l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	if cond := condition(node, corev1.NodeReady); cond != nil {
		hb = cond.LastHeartbeatTime.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[node.Name]
	if h == nil {
		h = &nodeHealth{probe: now, renew: renew, heartbeat: hb, taintSeen: map[string]time.Time{}}
		c.health[node.Name] = h
	}
	if !renew.Equal(h.renew) {
		h.renew, h.probe = renew, now
	}
	if !hb.Equal(h.heartbeat) {
		h.heartbeat, h.probe = hb, now
	}
	for _, t := range node.Spec.Taints {
		if isLifecycleTaint(t) && t.TimeAdded == nil {
			if _, ok := h.taintSeen[t.Key]; !ok {
				h.taintSeen[t.Key] = now
			}
		}
	}
	return *h
}

// markReconciled records that a Reconcile of node at controller time now finished.
func (c *Controller) markReconciled(node string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.health[node]; h != nil {
		h.reconciled = now
	}
}

// afterWrite records the Ready heartbeat of a node the controller just wrote,
// so that a condition it added itself is not taken for a heartbeat.
func (c *Controller) afterWrite(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.health[node.Name]; h != nil {
		if cond := condition(node, corev1.NodeReady); cond != nil {
			h.heartbeat = cond.LastHeartbeatTime.Time
		}
	}
}

// taintAdded returns when the lifecycle taint t was added: its timeAdded, or
// when the controller first saw it.
func (c *Controller) taintAdded(node string, t corev1.Taint, now time.Time) time.Time {
	if t.TimeAdded != nil {
		return t.TimeAdded.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.health[node]; h != nil {
		if at, ok := h.taintSeen[t.Key]; ok {
			return at
		}
	}
	return now
}

func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus returns the status of the node's Ready condition, "" when it has none.
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := condition(node, corev1.NodeReady); c != nil {
		return c.Status
	}
	return ""
}

// markUnknown sets the node's watched conditions to Unknown, as Kubernetes does
// for a node that stopped posting status; lastHeartbeatTime is kept (a missing
// condition gets the node's creation time). It reports whether it changed node.
func markUnknown(node *corev1.Node, now time.Time) bool {
	changed := false
	ts := metav1.NewTime(now).Rfc3339Copy()
	for _, t := range watchedConditions {
		cond := condition(node, t)
		switch {
		case cond == nil:
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type:               t,
				Status:             corev1.ConditionUnknown,
				Reason:             ReasonNodeStatusNeverUpdated,
				Message:            MessageNodeNeverUpdated,
				LastHeartbeatTime:  node.CreationTimestamp,
				LastTransitionTime: ts,
			})
			changed = true
		case cond.Status != corev1.ConditionUnknown:
			cond.Status = corev1.ConditionUnknown
			cond.Reason = ReasonNodeStatusUnknown
			cond.Message = MessageNodeStatusUnknown
			cond.LastTransitionTime = ts
			changed = true
		}
	}
	return changed
}

func isLifecycleTaint(t corev1.Taint) bool {
	return (t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady) &&
		(t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute)
}

// lifecycleTaint returns the key of the node's NoExecute lifecycle taint, or "".
func lifecycleTaint(node *corev1.Node) string {
	for _, t := range node.Spec.Taints {
		if isLifecycleTaint(t) && t.Effect == corev1.TaintEffectNoExecute {
			return t.Key
		}
	}
	return ""
}

// noExecuteTaints returns the node's NoExecute lifecycle taints.
func noExecuteTaints(node *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if isLifecycleTaint(t) && t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// setLifecycleTaints makes want ("" = none, or node.kubernetes.io/unreachable or
// node.kubernetes.io/not-ready) the node's only lifecycle taint key, with both
// the NoSchedule and the NoExecute effect; taints added get timeAdded now,
// existing ones keep theirs, other taints are untouched. It reports whether it
// changed node.
func setLifecycleTaints(node *corev1.Node, want string, now time.Time) bool {
	changed := false
	have := map[corev1.TaintEffect]bool{}
	var out []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady {
			if t.Key == want && isLifecycleTaint(t) && !have[t.Effect] {
				have[t.Effect] = true
				out = append(out, t)
			} else {
				changed = true
			}
			continue
		}
		out = append(out, t)
	}
	if want != "" {
		ts := metav1.NewTime(now).Rfc3339Copy()
		for _, eff := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			if !have[eff] {
				out = append(out, corev1.Taint{Key: want, Effect: eff, TimeAdded: &ts})
				changed = true
			}
		}
	}
	if changed {
		node.Spec.Taints = out
	}
	return changed
}

// markPodsNotReady sets the Ready condition of the node's pods to False, with
// compare-and-swap, as Kubernetes does for the pods of an unreachable node (whose
// agent cannot). It returns the errors of failed writes.
func (c *Controller) markPodsNotReady(ctx context.Context, node string, pods []*corev1.Pod, now time.Time) []error {
	var errs []error
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		i := podConditionIndex(pod, corev1.PodReady)
		if i < 0 || pod.Status.Conditions[i].Status == corev1.ConditionFalse {
			continue
		}
		p := pod.DeepCopy()
		cond := &p.Status.Conditions[i]
		cond.Status = corev1.ConditionFalse
		cond.Reason = ReasonNodeUnreachable
		cond.Message = fmt.Sprintf("node %s stopped posting status", node)
		cond.LastTransitionTime = metav1.NewTime(now).Rfc3339Copy()
		if err := c.writer.Update(ctx, p); err != nil {
			if errors.Is(err, api.ErrNotFound) {
				continue
			}
			errs = append(errs, fmt.Errorf("nodelifecycle: mark pod %s/%s not ready: %w", p.Namespace, p.Name, err))
			continue
		}
		c.log.Debug("marked pod not ready: its node is unreachable", "pod", p.Namespace+"/"+p.Name, "node", node)
	}
	return errs
}

func podConditionIndex(pod *corev1.Pod, t corev1.PodConditionType) int {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return i
		}
	}
	return -1
}

// ReasonCIDRNotAvailable is the reason of the Warning Event on a node that
// no pod CIDR is free for.
const ReasonCIDRNotAvailable = "CIDRNotAvailable"

// reportExhausted tells the user, once per node (until it gets a CIDR), that no
// pod CIDR is free for it: a log line and a Warning Event on the node.
func (c *Controller) reportExhausted(node *corev1.Node, cause error) {
	c.mu.Lock()
	done := c.reported[node.Name]
	c.reported[node.Name] = true
	c.mu.Unlock()
	if done {
		return
	}
	c.log.Warn("no pod CIDR left for a node; widen --cluster-cidr or remove nodes", "node", node.Name, "err", cause)
	c.rec.Eventf(events.Ref(node), corev1.EventTypeWarning, ReasonCIDRNotAvailable,
		"Node %s has no pod CIDR: every /%d subnet of the cluster CIDR %s is taken. "+
			"Widen the cluster CIDR, use a larger node CIDR mask size, or remove nodes.",
		node.Name, c.cfg.NodeCIDRMaskSize, c.cfg.ClusterCIDR)
}

package nodeagent

import (
	"context"
	"fmt"
	goruntime "runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

var (
	nodesResource  = mustResource("nodes")
	leasesResource = mustResource("leases.coordination.k8s.io")
)

// registerUntilDone registers the Node and its Lease, retrying with a
// doubling back-off until it succeeds or ctx ends (then it returns ctx's error).
func (a *Agent) registerUntilDone(ctx context.Context, v runtime.VersionInfo) error {
	wait := 500 * time.Millisecond
	for {
		err := a.register(ctx, v)
		if err == nil {
			err = a.renewLease(ctx)
		}
		if err == nil {
			a.log.Info("node registered", "runtime", v.RuntimeName+"://"+v.RuntimeVersion)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.log.Warn("node registration failed; retrying", "error", err, "retryIn", wait)
		t := a.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (a *Agent) nodeLabels() map[string]string {
	l := map[string]string{}
	for k, v := range a.cfg.Labels {
		l[k] = v
	}
	l[corev1.LabelHostname] = a.cfg.NodeName
	l[corev1.LabelOSStable] = "linux"
	l[corev1.LabelArchStable] = goruntime.GOARCH
	return l
}

// nodeStatus is the Node status the agent reports, keeping transition
// times of unchanged conditions from old.
func (a *Agent) nodeStatus(old corev1.NodeStatus, v runtime.VersionInfo) corev1.NodeStatus {
	now := metav1.NewTime(a.clk.Now())
	st := corev1.NodeStatus{
		Capacity:    a.cfg.Capacity.DeepCopy(),
		Allocatable: a.cfg.Capacity.DeepCopy(),
		Phase:       old.Phase,
		Addresses:   append([]corev1.NodeAddress(nil), a.cfg.Addresses...),
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          "bosun/" + a.cfg.Version,
			ContainerRuntimeVersion: v.RuntimeName + "://" + v.RuntimeVersion,
			OperatingSystem:         "linux",
			Architecture:            goruntime.GOARCH,
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: a.cfg.APIPort}},
		Images:          old.Images,
		VolumesInUse:    old.VolumesInUse,
		VolumesAttached: old.VolumesAttached,
	}
	for _, c := range []struct {
		t       corev1.NodeConditionType
		s       corev1.ConditionStatus
		reason  string
		message string
	}{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
	} {
		nc := corev1.NodeCondition{Type: c.t, Status: c.s, Reason: c.reason, Message: c.message,
			LastHeartbeatTime: now, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == c.t && o.Status == c.s {
				nc.LastTransitionTime = o.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, nc)
	}
	return st
}

// withoutHeartbeats returns st with every lastHeartbeatTime cleared, to
// tell a real change from a heartbeat.
func withoutHeartbeats(st corev1.NodeStatus) corev1.NodeStatus {
	st.Conditions = append([]corev1.NodeCondition(nil), st.Conditions...)
	for i := range st.Conditions {
		st.Conditions[i].LastHeartbeatTime = metav1.Time{}
	}
	return st
}

// register creates the Node, or updates an existing one: our labels are
// merged in, the spec the control plane wrote (podCIDR, taints) is kept,
// and the status is ours.
func (a *Agent) register(ctx context.Context, v runtime.VersionInfo) error {
	obj, err := a.c.Get(ctx, nodesResource, "", a.cfg.NodeName)
	if client.IsNotFound(err) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: a.nodeLabels()}}
		n.Status = a.nodeStatus(corev1.NodeStatus{}, v)
		if err := a.c.Create(ctx, nodesResource, n); err != nil {
			return fmt.Errorf("nodeagent: create node %s: %w", a.cfg.NodeName, err)
		}
		a.setNode(n)
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodeagent: read node %s: %w", a.cfg.NodeName, err)
	}
	n := obj.(*corev1.Node)
	changed := false
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, val := range a.nodeLabels() {
		if n.Labels[k] != val {
			n.Labels[k], changed = val, true
		}
	}
	if changed {
		if err := a.c.Update(ctx, nodesResource, n); err != nil {
			return fmt.Errorf("nodeagent: update node %s: %w", a.cfg.NodeName, err)
		}
	}
	n.Status = a.nodeStatus(n.Status, v)
	if err := a.c.UpdateStatus(ctx, nodesResource, n); err != nil {
		return fmt.Errorf("nodeagent: update the status of node %s: %w", a.cfg.NodeName, err)
	}
	a.setNode(n)
	return nil
}

func (a *Agent) setNode(n *corev1.Node) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.node = n
	if n.Spec.PodCIDR != a.podCIDR && n.Spec.PodCIDR != "" {
		a.log.Info("pod CIDR assigned", "podCIDR", n.Spec.PodCIDR)
		a.podCIDR = n.Spec.PodCIDR
	}
}

// renewLease creates or renews the node's Lease.
func (a *Agent) renewLease(ctx context.Context) error {
	now := metav1.NewMicroTime(a.clk.Now())
	secs := int32(a.cfg.LeaseDuration / time.Second)
	obj, err := a.c.Get(ctx, leasesResource, LeaseNamespace, a.cfg.NodeName)
	if client.IsNotFound(err) {
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: LeaseNamespace},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &a.cfg.NodeName, LeaseDurationSeconds: &secs, RenewTime: &now},
		}
		a.mu.Lock()
		if a.node != nil && a.node.UID != "" {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.node.Name, UID: a.node.UID}}
		}
		a.mu.Unlock()
		if err := a.c.Create(ctx, leasesResource, l); err != nil {
			return fmt.Errorf("nodeagent: create lease %s/%s: %w", LeaseNamespace, a.cfg.NodeName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodeagent: read lease %s/%s: %w", LeaseNamespace, a.cfg.NodeName, err)
	}
	l := obj.(*coordinationv1.Lease)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &a.cfg.NodeName, &secs, &now
	if err := a.c.Update(ctx, leasesResource, l); err != nil {
		return fmt.Errorf("nodeagent: renew lease %s/%s: %w", LeaseNamespace, a.cfg.NodeName, err)
	}
	return nil
}

// heartbeatLoop renews the Lease every HeartbeatInterval, and checks the
// Node: its status is written when it changed (e.g. the control plane set
// Ready=Unknown) or StatusReportInterval passed, as kubelet does.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	v, err := a.rt.Version(ctx)
	if err != nil {
		a.log.Warn("asking the runtime its version failed", "error", err)
	}
	if a.cfg.HeartbeatOffset > 0 {
		t := a.clk.NewTimer(a.cfg.HeartbeatOffset)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
	lastReport := a.clk.Now()
	t := a.clk.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("lease renewal failed; the control plane marks the node NotReady if this goes on", "error", err)
		}
		reported, err := a.syncNodeStatus(ctx, v, a.clk.Since(lastReport) >= a.cfg.StatusReportInterval)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("node status update failed", "error", err)
		}
		if reported {
			lastReport = a.clk.Now()
		}
	}
}

// syncNodeStatus reads the Node and writes its status when it changed, or
// when force is set. A Node deleted meanwhile is registered again.
func (a *Agent) syncNodeStatus(ctx context.Context, v runtime.VersionInfo, force bool) (bool, error) {
	obj, err := a.c.Get(ctx, nodesResource, "", a.cfg.NodeName)
	if client.IsNotFound(err) {
		return true, a.register(ctx, v)
	}
	if err != nil {
		return false, fmt.Errorf("nodeagent: read node %s: %w", a.cfg.NodeName, err)
	}
	n := obj.(*corev1.Node)
	a.setNode(n)
	st := a.nodeStatus(n.Status, v)
	if !force && sameJSON(withoutHeartbeats(st), withoutHeartbeats(n.Status)) {
		return false, nil
	}
	n.Status = st
	if err := a.c.UpdateStatus(ctx, nodesResource, n); err != nil {
		return false, fmt.Errorf("nodeagent: update the status of node %s: %w", a.cfg.NodeName, err)
	}
	a.setNode(n)
	return true, nil
}

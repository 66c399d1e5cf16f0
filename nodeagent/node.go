package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

var (
	nodesResource  = mustResource("nodes")
	leasesResource = mustResource("leases.coordination.k8s.io")
)

// nodeReporter registers the agent's Node and keeps it and its Lease
// current (kubelet's node status and lease controllers). It holds the Node
// as last read or written, for the pod CIDR and the mirror pods' owner.
type nodeReporter struct {
	cfg *Config // NodeName, Version, Capacity, Addresses, Labels, APIPort and the intervals
	c   *client.Client
	rt  runtime.Runtime
	clk clock.WithTicker
	log *slog.Logger
	rec *events.Recorder // the node's Events; nil records none

	mu      sync.Mutex
	node    *corev1.Node
	podCIDR string
}

// Node returns the Node as last read or written (nil before registration).
func (r *nodeReporter) Node() *corev1.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.node
}

// reportedReady reports whether the Node as last read or written has the
// Ready condition True.
func (r *nodeReporter) reportedReady() bool {
	n := r.Node()
	if n == nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodCIDR returns the pod CIDR the control plane assigned ("" until then).
func (r *nodeReporter) PodCIDR() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.podCIDR
}

// registerUntilDone registers the Node and its Lease, retrying with a
// doubling back-off until it succeeds or ctx ends (then it returns ctx's error).
func (r *nodeReporter) registerUntilDone(ctx context.Context, v runtime.VersionInfo) error {
	wait := 500 * time.Millisecond
	for {
		err := r.register(ctx, v)
		if err == nil {
			err = r.renewLease(ctx)
		}
		if err == nil {
			r.log.Info("node registered", "runtime", v.RuntimeName+"://"+v.RuntimeVersion)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("node registration failed; retrying", "error", err, "retryIn", wait)
		t := r.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (r *nodeReporter) nodeLabels() map[string]string {
	l := map[string]string{}
	for k, v := range r.cfg.Labels {
		l[k] = v
	}
	l[corev1.LabelHostname] = r.cfg.NodeName
	l[corev1.LabelOSStable] = "linux"
	l[corev1.LabelArchStable] = goruntime.GOARCH
	return l
}

// Reasons and messages of the network's conditions, as Kubernetes words
// them (the route controller's NetworkUnavailable, kubelet's Ready).
const (
	ReasonRouteCreated   = "RouteCreated"
	ReasonNoRouteCreated = "NoRouteCreated"
	ReasonKubeletReady   = "KubeletReady"
	// ReasonKubeletNotReady is the Ready=False reason; the message is
	// "container runtime network not ready: NetworkReady=false
	// reason:NetworkPluginNotReady message:<what is missing>".
	ReasonKubeletNotReady = "KubeletNotReady"
)

// networkError says why the node's network cannot carry pods yet: no pod
// CIDR, or the configured NetworkReadiness not ready; nil when it can.
func (r *nodeReporter) networkError() error {
	if r.PodCIDR() == "" {
		return errNoPodCIDR
	}
	if r.cfg.Network != nil {
		return r.cfg.Network.NetworkReady()
	}
	return nil
}

var errNoPodCIDR = errors.New("the node has no pod CIDR yet (the control plane assigns one after registration)")

// nodeStatus is the Node status the agent reports, keeping transition
// times of unchanged conditions from old.
func (r *nodeReporter) nodeStatus(old corev1.NodeStatus, v runtime.VersionInfo) corev1.NodeStatus {
	now := metav1.NewTime(r.clk.Now())
	netUnavailable := struct {
		s               corev1.ConditionStatus
		reason, message string
	}{corev1.ConditionFalse, ReasonRouteCreated, "bosun agent programmed the routes to every other node's pod CIDR"}
	ready := netUnavailable
	ready.s, ready.reason, ready.message = corev1.ConditionTrue, ReasonKubeletReady, "kubelet is posting ready status"
	if err := r.networkError(); err != nil {
		netUnavailable.s, netUnavailable.reason, netUnavailable.message = corev1.ConditionTrue, ReasonNoRouteCreated, "bosun agent: "+err.Error()
		ready.s, ready.reason = corev1.ConditionFalse, ReasonKubeletNotReady
		ready.message = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:" + err.Error()
	}
	st := corev1.NodeStatus{
		Capacity:    r.cfg.Capacity.DeepCopy(),
		Allocatable: r.cfg.Capacity.DeepCopy(),
		Phase:       old.Phase,
		Addresses:   append([]corev1.NodeAddress(nil), r.cfg.Addresses...),
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          "bosun/" + r.cfg.Version,
			ContainerRuntimeVersion: v.RuntimeName + "://" + v.RuntimeVersion,
			OperatingSystem:         "linux",
			Architecture:            goruntime.GOARCH,
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: r.cfg.APIPort}},
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
		{corev1.NodeNetworkUnavailable, netUnavailable.s, netUnavailable.reason, netUnavailable.message},
		{corev1.NodeReady, ready.s, ready.reason, ready.message},
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
func (r *nodeReporter) register(ctx context.Context, v runtime.VersionInfo) error {
	obj, err := r.c.Get(ctx, nodesResource, "", r.cfg.NodeName)
	if client.IsNotFound(err) {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: r.cfg.NodeName, Labels: r.nodeLabels(),
			Annotations: r.nodeAnnotations()}}
		n.Status = r.nodeStatus(corev1.NodeStatus{}, v)
		if err := r.c.Create(ctx, nodesResource, n); err != nil {
			return fmt.Errorf("nodeagent: create node %s: %w", r.cfg.NodeName, err)
		}
		r.setNode(n)
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodeagent: read node %s: %w", r.cfg.NodeName, err)
	}
	n := obj.(*corev1.Node)
	r.setNode(n) // its pod CIDR decides the network's conditions below
	changed := false
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, val := range r.nodeLabels() {
		if n.Labels[k] != val {
			n.Labels[k], changed = val, true
		}
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	for k, val := range r.nodeAnnotations() {
		if n.Annotations[k] != val {
			n.Annotations[k], changed = val, true
		}
	}
	if changed {
		if err := r.c.Update(ctx, nodesResource, n); err != nil {
			return fmt.Errorf("nodeagent: update node %s: %w", r.cfg.NodeName, err)
		}
	}
	n.Status = r.nodeStatus(n.Status, v)
	if err := r.c.UpdateStatus(ctx, nodesResource, n); err != nil {
		return fmt.Errorf("nodeagent: update the status of node %s: %w", r.cfg.NodeName, err)
	}
	r.setNode(n)
	return nil
}

// AnnotationLocalVolumeDir is the Node annotation naming the directory
// under which bosun's node-local provisioner puts the node's persistent
// volumes (<RootDir>/volumes), set by the agent when it registers.
const AnnotationLocalVolumeDir = "bosun.dev/local-volume-dir"

// nodeAnnotations are the annotations the agent sets on its Node.
func (r *nodeReporter) nodeAnnotations() map[string]string {
	return map[string]string{AnnotationLocalVolumeDir: filepath.Join(r.cfg.RootDir, "volumes")}
}

func (r *nodeReporter) setNode(n *corev1.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.node = n
	if n.Spec.PodCIDR != r.podCIDR && n.Spec.PodCIDR != "" {
		r.log.Info("pod CIDR assigned", "podCIDR", n.Spec.PodCIDR)
		r.podCIDR = n.Spec.PodCIDR
	}
}

// renewLease creates or renews the node's Lease.
func (r *nodeReporter) renewLease(ctx context.Context) error {
	now := metav1.NewMicroTime(r.clk.Now())
	secs := int32(r.cfg.LeaseDuration / time.Second)
	obj, err := r.c.Get(ctx, leasesResource, LeaseNamespace, r.cfg.NodeName)
	if client.IsNotFound(err) {
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: r.cfg.NodeName, Namespace: LeaseNamespace},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &r.cfg.NodeName, LeaseDurationSeconds: &secs, RenewTime: &now},
		}
		if n := r.Node(); n != nil && n.UID != "" {
			l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}}
		}
		if err := r.c.Create(ctx, leasesResource, l); err != nil {
			return fmt.Errorf("nodeagent: create lease %s/%s: %w", LeaseNamespace, r.cfg.NodeName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("nodeagent: read lease %s/%s: %w", LeaseNamespace, r.cfg.NodeName, err)
	}
	l := obj.(*coordinationv1.Lease)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &r.cfg.NodeName, &secs, &now
	if err := r.c.Update(ctx, leasesResource, l); err != nil {
		return fmt.Errorf("nodeagent: renew lease %s/%s: %w", LeaseNamespace, r.cfg.NodeName, err)
	}
	return nil
}

// heartbeatLoop renews the Lease every HeartbeatInterval, and checks the
// Node: its status is written when it changed (e.g. the control plane set
// Ready=Unknown) or StatusReportInterval passed, as kubelet does. While the
// node's network is not ready (no pod CIDR yet, routes not programmed) it
// also rereads the Node and rechecks the network every NetworkPoll,
// doubling up to HeartbeatInterval, so that the node turns Ready soon after
// its pod CIDR is assigned; and until the node reported Ready it asks the
// network every NetworkCheck (no API request), writing the status at once
// when the network turns ready (after a restart: as soon as the routes are
// programmed again).
func (r *nodeReporter) heartbeatLoop(ctx context.Context) {
	v, err := r.rt.Version(ctx)
	if err != nil {
		r.log.Warn("asking the runtime its version failed", "error", err)
	}
	lastReport := r.clk.Now()
	var tick <-chan time.Time
	startTicker := func() {
		t := r.clk.NewTicker(r.cfg.HeartbeatInterval)
		tick = t.C()
		context.AfterFunc(ctx, t.Stop)
	}
	var offset <-chan time.Time
	if r.cfg.HeartbeatOffset > 0 {
		t := r.clk.NewTimer(r.cfg.HeartbeatOffset)
		defer t.Stop()
		offset = t.C()
	} else {
		startTicker()
	}
	netDelay := r.cfg.NetworkPoll
	var netTimer clock.Timer
	var netC <-chan time.Time
	defer func() {
		if netTimer != nil {
			netTimer.Stop()
		}
	}()
	// armNetwork polls again until the Node as last read or written says
	// Ready: not until the network is ready, which it may have become after
	// the status was computed (the status written then still says NotReady,
	// and only another report fixes that).
	armNetwork := func() {
		if netC != nil {
			return
		}
		if r.reportedReady() {
			netDelay = r.cfg.NetworkPoll
			return
		}
		netTimer = r.clk.NewTimer(netDelay)
		netC = netTimer.C()
		netDelay = min(2*netDelay, r.cfg.HeartbeatInterval)
	}
	armNetwork()
	check := &networkCheck{r: r}
	defer check.stop()
	check.arm()
	// reportNetwork rereads the Node and writes its status if it changed.
	reportNetwork := func() {
		if netTimer != nil {
			netTimer.Stop()
		}
		netC = nil
		reported, err := r.syncNodeStatus(ctx, v, false)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("node status update failed", "error", err)
		}
		if reported {
			lastReport = r.clk.Now()
			if r.reportedReady() {
				r.log.Info("node network ready: reported Ready", "podCIDR", r.PodCIDR())
			}
		}
		armNetwork()
		check.arm()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-offset:
			offset = nil
			startTicker()
			continue
		case <-check.c:
			if check.turnedReady() {
				reportNetwork()
			}
			check.arm()
			continue
		case <-netC:
			reportNetwork()
			continue
		case <-tick:
		}
		if err := r.renewLease(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("lease renewal failed; the control plane marks the node NotReady if this goes on", "error", err)
		}
		reported, err := r.syncNodeStatus(ctx, v, r.clk.Since(lastReport) >= r.cfg.StatusReportInterval)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("node status update failed", "error", err)
		}
		if reported {
			lastReport = r.clk.Now()
		}
		armNetwork()
		check.arm()
	}
}

// networkCheck asks the node's network every NetworkCheck, while the node
// has not reported Ready, whether it turned ready: an in-memory question,
// so that Ready is written as soon as it is true.
type networkCheck struct {
	r     *nodeReporter
	timer clock.Timer
	c     <-chan time.Time // nil: not armed
	ready bool             // the network's answer at the last check (none yet: false)
}

// arm starts the next check, unless one is pending or the node as last
// read or written says Ready.
func (k *networkCheck) arm() {
	if k.c != nil || k.r.reportedReady() {
		return
	}
	k.timer = k.r.clk.NewTimer(k.r.cfg.NetworkCheck)
	k.c = k.timer.C()
}

// turnedReady is called when the check fired: it reports whether the
// network is ready now and was not at the previous check. A status write
// that fails is retried by the NetworkPoll, not by every check.
func (k *networkCheck) turnedReady() bool {
	k.c = nil
	was := k.ready
	k.ready = k.r.networkError() == nil
	return k.ready && !was
}

func (k *networkCheck) stop() {
	if k.timer != nil {
		k.timer.Stop()
	}
}

// syncNodeStatus reads the Node and writes its status when it changed, or
// when force is set. A Node deleted meanwhile is registered again.
func (r *nodeReporter) syncNodeStatus(ctx context.Context, v runtime.VersionInfo, force bool) (bool, error) {
	obj, err := r.c.Get(ctx, nodesResource, "", r.cfg.NodeName)
	if client.IsNotFound(err) {
		return true, r.register(ctx, v)
	}
	if err != nil {
		return false, fmt.Errorf("nodeagent: read node %s: %w", r.cfg.NodeName, err)
	}
	n := obj.(*corev1.Node)
	r.setNode(n)
	st := r.nodeStatus(n.Status, v)
	if !force && sameJSON(withoutHeartbeats(st), withoutHeartbeats(n.Status)) {
		return false, nil
	}
	n.Status = st
	if err := r.c.UpdateStatus(ctx, nodesResource, n); err != nil {
		return false, fmt.Errorf("nodeagent: update the status of node %s: %w", r.cfg.NodeName, err)
	}
	r.setNode(n)
	return true, nil
}

func sameJSON(a, b any) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

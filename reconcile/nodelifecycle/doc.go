// Package nodelifecycle is bosun's node controller: it allocates each Node a pod
// CIDR, judges node health from Lease renewals and Ready heartbeats, taints
// unreachable and not-ready nodes, and evicts their pods — a simplified merge of
// Kubernetes' node IPAM (range allocator), node lifecycle and taint-eviction
// controllers.
//
// # Pod CIDRs
//
// Every Node without spec.podCIDR gets the next free /NodeCIDRMaskSize subnet of
// ClusterCIDR (default 10.244.0.0/16 cut into /24s), written to spec.podCIDR and
// spec.podCIDRs with compare-and-swap. What is taken is derived from the podCIDRs
// of the nodes in the cache (the controller reconciles only once the node cache
// has synced), so a restarted controller or a new leader never hands out a
// subnet twice; a deleted node's subnet becomes free. When every subnet is taken
// the node is left without one, the controller logs it and records a Warning
// Event (reason CIDRNotAvailable, namespace default, involvedObject the Node)
// saying what to do, and tries again on every pass.
//
// # Health
//
// Agents renew a coordination.k8s.io/v1 Lease named after their node in
// namespace kube-node-lease. The controller remembers, per node, the last
// spec.renewTime and Ready lastHeartbeatTime it saw and when — on its own clock —
// it saw either change; the agents' timestamps are only compared with their own
// earlier values, so clock skew between machines does not matter (as in
// Kubernetes). The first sighting counts as a change, so after a restart every
// node has a full grace period. When nothing changed for NodeMonitorGracePeriod
// (default 40 s), the node's Ready, MemoryPressure, DiskPressure and PIDPressure
// conditions become Unknown (reason NodeStatusUnknown, "Kubelet stopped posting
// node status."), it gets the taints node.kubernetes.io/unreachable:NoSchedule
// and :NoExecute (timeAdded set), and its pods' Ready condition is set to False.
// When the Lease is renewed again the unreachable taints are removed; setting
// Ready=True again is the agent's job. A node whose agent reports Ready=False
// gets the node.kubernetes.io/not-ready taints instead, removed when it reports
// True. Every node is looked at each MonitorPeriod (default 5 s, on the clock's
// ticker) and whenever it or its Lease changes.
//
// # Eviction
//
// Pods on a node with a NoExecute lifecycle taint are deleted (compare-and-swap)
// once the taint is older than the time they tolerate it, so that their
// controllers replace them elsewhere. As in Kubernetes' taint manager, a
// toleration of the taint with tolerationSeconds sets that time (the least of
// the matching ones), one without tolerationSeconds tolerates it forever. A pod
// without a matching toleration gets PodEvictionTimeout (default 300 s), which is
// what Kubernetes' DefaultTolerationSeconds admission gives every pod. Mirror
// pods and pods already being deleted are left alone. Evictions go through one
// queue limited to EvictionQPS per second (default 10, burst 1) on the
// controller's clock; each pod is checked again just before it is deleted.
//
// Every write is compare-and-swap on resourceVersion: a conflict with an agent's
// write is retried from fresh caches.
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	_, cidr, _ := net.ParseCIDR("10.244.0.0/16")
//	nl, err := nodelifecycle.New(nodelifecycle.Config{
//		Writer: s, Getter: s, Informers: informers, Logger: log,
//		ClusterCIDR: cidr, NodeCIDRMaskSize: 24,
//		NodeMonitorGracePeriod: 40 * time.Second, PodEvictionTimeout: 5 * time.Minute,
//	})
//	if err != nil {
//		return err
//	}
//	informers.Start(ctx)
//	return nl.Run(ctx) // blocks until ctx ends
package nodelifecycle

// Package nodeagent is bosun's kubelet: it registers a Node, heartbeats
// through a Lease, and runs the pods bound to the node on a container
// runtime (package nodeagent/runtime), speaking to the control plane only
// through the HTTP API (package client), even inside `bosun server`.
//
// # How it works
//
// Run registers the Node (creating it, or updating an existing one while
// keeping the spec the control plane wrote: podCIDR, taints), creates the
// Lease kube-node-lease/<node>, then runs:
//
//   - a PodSource that keeps a cache of the node's pods (by default a list
//     and watch with fieldSelector spec.nodeName=<node>; hollow nodes share
//     one watch for all nodes);
//   - a relist of the runtime every RelistInterval, as kubelet's PLEG: pods
//     whose sandboxes or containers changed are enqueued, and so are pods the
//     runtime has and the API does not (once the first list is in);
//   - a work queue of pod UIDs with several workers (one worker per pod at a
//     time). A worker converges the runtime on the pod spec, level-triggered:
//     a ready sandbox, each container created and started in order,
//     restarted per restartPolicy with CrashLoopBackOff (immediately, then
//     10s doubling to 300s), everything stopped and removed for pods the API
//     no longer has. It then computes the status as kubelet does (phase,
//     conditions, containerStatuses, IPs) and writes it through the status
//     subresource when it changed;
//   - a heartbeat every HeartbeatInterval: the Lease is renewed, the Node
//     read, and its status written when it changed or every
//     StatusReportInterval.
//
// The agent keeps no state of its own: a restarted agent finds its
// sandboxes and containers through the metadata the runtime returns (pod
// UID, container name, attempt), adopts those of known pods untouched, and
// removes those of pods the API no longer has.
//
// Readiness comes from a Prober (default RunningIsReady); the probes of
// issue 4 plug in there and call Agent.Resync when a result changes.
//
// # Usage
//
//	a, err := nodeagent.New(nodeagent.Config{
//		NodeName: "node-1",
//		Client:   c,  // client.New("http://server:6780")
//		Runtime:  rt, // containerd, or runtimetest.New(...) for a hollow node
//		Logger:   log,
//		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")},
//		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
//	})
//	if err != nil {
//		return err
//	}
//	return a.Run(ctx) // until ctx ends
package nodeagent

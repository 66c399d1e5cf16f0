// Package nodeagent is bosun's kubelet: it registers a Node, heartbeats
// through a Lease, and runs the pods bound to the node on a container
// runtime (package nodeagent/runtime), speaking to the control plane only
// through the HTTP API (package client), even inside `bosun server`.
//
// # How it works
//
// Run registers the Node (creating it, or updating an existing one while
// keeping the spec the control plane wrote: podCIDR, taints), creates the
// Lease kube-node-lease/<node>, then runs kubelet's parts, each with one
// job, wired by Agent. The node reports Ready=False (reason
// KubeletNotReady, kubelet's message "container runtime network not ready:
// NetworkReady=false reason:NetworkPluginNotReady message:...") and
// NetworkUnavailable=True (NoRouteCreated) until it has its pod CIDR and
// Config.Network (the routes of package nodeagent/routes in the real agent)
// is ready; then NetworkUnavailable=False (RouteCreated) and Ready=True.
// The scheduler places no pod on a node that is not Ready, and the runtime
// gives no pod an address before the node has its CIDR (there is no
// fallback range). While the network is not ready the agent rereads its
// Node every Config.NetworkPoll (doubling), so it turns Ready within a
// fraction of a second of its CIDR being assigned.
//
//   - the pod manager (package podmanager) is the one owner of the desired
//     pods: the node's pods from a PodSource (by default a list and watch
//     with fieldSelector spec.nodeName=<node>; hollow nodes share one watch
//     for all nodes), the static pods and their mirror pods. Every change
//     notifies the pod workers with the pod's UID;
//   - the pod workers (package podworkers) run one goroutine per pod: its
//     syncs never overlap, signals during a sync collapse into one more
//     sync of the latest desired state, failures are retried with a
//     doubling back-off (200ms to 1m), and at most Workers pods sync at
//     once. A sync (podSyncer, sync.go) converges the runtime on the pod
//     spec, level-triggered: a ready sandbox, each container created and
//     started in order, restarted per restartPolicy with CrashLoopBackOff
//     (immediately, then 10s doubling to 300s), everything stopped and
//     removed for pods the node no longer has. It then computes the status
//     as kubelet does (podstatus.go: phase, conditions, containerStatuses,
//     IPs) and hands it to the status manager;
//   - the status manager (package status) writes the statuses through the
//     status subresource, latest first: a status set while an older one is
//     pending replaces it, and nothing is written when nothing changed. A
//     pod that ends (Succeeded, Failed) is stopped once its phase is written;
//   - the pleg (pleg.go) relists the runtime every RelistInterval, as
//     kubelet's PLEG: pods whose sandboxes or containers changed are
//     notified, and so are pods the runtime has and the node should not run
//     (once the first list is in);
//   - the nodeReporter (node.go) heartbeats every HeartbeatInterval: the
//     Lease is renewed, the Node read, and its status written when it
//     changed or every StatusReportInterval.
//
// Init containers (initcontainers.go) run before the app containers, one
// at a time, as kubelet runs them; sidecars (restartPolicy Always) keep
// running. A pod with a deletionTimestamp is terminated (terminate.go):
// preStop hooks, SIGTERM, SIGKILL when its deletionGracePeriodSeconds ran
// out, the last status written (status.Manager.WriteNow), then the pod
// deleted through the API with grace period 0 and its UID as precondition;
// its worker gives back its slot (podworkers.ReleaseSlot) while it waits.
//
// Following one pod: the PodSource calls the pod manager (podmanager), which
// signals the pod's worker (podworkers), whose sync (sync.go) drives the
// runtime with the environment (podenv) and volumes (volumes) resolved, and
// gives the status it computes (podstatus.go) to the status manager (status).
//
// The agent keeps no state of its own: a restarted agent finds its
// sandboxes and containers through the metadata the runtime returns (pod
// UID, container name, attempt), adopts those of known pods untouched, and
// removes those of pods the API no longer has.
//
// # Probes
//
// With Config.RunProbes, package probe runs every container's liveness,
// readiness and startup probes in the background (exec ones through the
// runtime when it implements probe.Execer) and calls Resync when a result
// changes, so a readiness change is written to the pod's status (ready
// flag, Ready and ContainersReady) at once. A failed liveness or startup
// probe stops the container (grace period: the probe's, else the pod's);
// it is then restarted per restartPolicy with the usual back-off, and its
// lastState shows how it ended. Without RunProbes (hollow nodes: fake pod
// IPs) or with another Config.Prober, a running container is ready.
//
// # Containers from the pod spec
//
// The runtime is given everything resolved (packages podenv and volumes):
// the environment (envFrom sources in order, invalid names skipped and logged; env in order with
// valueFrom configMapKeyRef, secretKeyRef, fieldRef and resourceFieldRef;
// $(VAR) expanded over the variables before it and the service
// variables, "$$" escaping; service variables, Config.ServiceEnv, last
// and only where not defined), command and args with $(VAR) expanded
// (the runtime applies the image's entrypoint rules), workingDir, CPU and
// memory limits, and runAsUser/runAsGroup/readOnlyRootFilesystem as the
// annotations AnnotationRunAsUser, AnnotationRunAsGroup and
// AnnotationReadOnlyRootfs. Volumes live in RootDir/pods/<uid>/volumes:
// emptyDir (medium Memory: a tmpfs), hostPath (with its type check or
// creation), configMap and secret (files written with items, paths and
// modes; secrets on a tmpfs when running as root), mounted per
// volumeMounts (mountPath, readOnly, subPath, subPathExpr; configMap and
// secret volumes are always read-only). Their files are written when a
// container is created, not updated live. A missing object or key, an
// unsupported volume type or field: the container waits with reason
// CreateContainerConfigError and a message naming it, retried every
// Backoff.Initial. The pod's directory is removed (tmpfs unmounted) with
// the pod.
//
// # Static pods
//
// With Config.PodManifestPath, package staticpods reads static pods from
// that directory before anything else, and they run through the same pod
// workers as the API's pods, without waiting for the API: they run,
// restart and are adopted across agent restarts while the server is
// unreachable. Once the API's pods are listed, each gets a mirror pod
// (<name>-<node>, annotation kubernetes.io/config.mirror=<hash>, owned by
// the Node) whose status the agent keeps current; a mirror whose static
// pod is gone (or changed) is deleted (or replaced), and one deleted
// through the API is created again; the status manager writes its status.
// Mirror pods from the API are never run. A file that cannot be used is
// logged and posted as a Warning Event on the Node.
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
//		RootDir:   "/var/lib/bosun/agent",
//		RunProbes: true,
//		PodManifestPath: "/etc/bosun/manifests", // --pod-manifest-path
//	})
//	if err != nil {
//		return err
//	}
//	return a.Run(ctx) // until ctx ends
package nodeagent

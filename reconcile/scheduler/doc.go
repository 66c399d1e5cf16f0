// Package scheduler assigns pods to nodes as kube-scheduler's default profile
// does: it filters the nodes a pod may run on, scores a sample of them, and
// binds the pod to the best one with a compare-and-swap write of spec.nodeName
// and the PodScheduled=True condition.
//
// # Which pods
//
// Pods with no spec.nodeName whose spec.schedulerName is "default-scheduler"
// (or empty), not being deleted, not terminated and without scheduling gates
// (see Schedulable). A pod written with spec.nodeName set is never touched; it
// only counts on its node.
//
// # The algorithm (Snapshot, usable without etcd)
//
// A Snapshot holds every node with the aggregate of the pods on it (requested
// cpu and memory, with and without kube-scheduler's non-zero defaults of 100m
// and 200Mi per container, pod count, host ports, pods per controller owner),
// updated incrementally from informer events and from the scheduler's own
// decisions ("assumed" pods, counted before the informer sees them bound).
//
// Filters, in kube-scheduler's plugin order, the first failing one deciding:
// node Ready condition True ("node(s) were not ready"; a pod tolerating the
// not-ready or unreachable taint passes), spec.unschedulable ("node(s) were
// unschedulable"; a pod tolerating node.kubernetes.io/unschedulable passes),
// NoSchedule and NoExecute taints ("node(s) had untolerated taint {key:
// value}"), nodeSelector and required node affinity with In, NotIn, Exists,
// DoesNotExist, Gt, Lt and matchFields on metadata.name ("node(s) didn't match
// Pod's node affinity/selector"), host ports by protocol, host IP and port
// ("node(s) didn't have free ports for the requested pod ports"), and requests
// against allocatable minus what is requested already ("Too many pods",
// "Insufficient cpu", "Insufficient memory"). A pod's request is the sum over
// its containers, at least its largest init container, plus overhead.
//
// VolumeBinding, for pods with persistentVolumeClaim volumes only (others
// read no claim): a claim that does not exist or is being deleted makes the
// pod fit no node ("0/3 nodes are available: persistentvolumeclaim \"data\"
// not found."), as does an unbound claim no provisioner serves; a claim bound
// to a PersistentVolume with required node affinity keeps the pod off the
// nodes it excludes ("node(s) had volume node affinity conflict"); an unbound
// claim of a class bosun provisions (see reconcile/volumebinding) fits any
// node, and the binding's transaction also writes the claim's annotation
// volume.kubernetes.io/selected-node (WaitForFirstConsumer).
//
// Nodes are searched round robin, each search starting where the previous one
// stopped, until percentageOfNodesToScore's number of feasible nodes is found
// (adaptive by default: 420 of 1,000 nodes). Those are scored: LeastAllocated
// (weight 1), BalancedAllocation (weight 1) and spreading of the pods of one
// controller owner (weight 2: 100 × (max − count) / max over the scored nodes).
// Ties are broken at random with a seeded generator.
//
// When no node fits, FitError.Error is Kubernetes' message, its "count reason"
// items sorted as strings as kube-scheduler sorts them:
//
//	0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.
//
// # The loop (Scheduler)
//
// Pods wait in a queue ordered by creation time. One goroutine decides, one pod
// at a time, assumes the pod on its node and hands the binding to BindWorkers
// goroutines; a failed binding (conflict, pod gone) forgets the assumption and
// retries after a backoff of 1 s doubling to 10 s. A pod that fits nowhere gets
// PodScheduled=False, reason Unschedulable, with the message above (written only
// when it changed), and waits until a node is added or changes in a way that
// matters, a bound pod goes away or terminates, its own spec or labels change,
// or the periodic retry every FlushInterval (60 s on Config.Clock) comes.
//
// # Example
//
//	informers := cache.NewInformers(st, log)
//	sched := scheduler.New(scheduler.Config{NewBatch: func() scheduler.Batch { return st.Txn() }, Informers: informers, Logger: log})
//	informers.Start(ctx)
//	return sched.Run(ctx) // blocks until ctx ends
//
// The algorithm alone:
//
//	snap := scheduler.NewSnapshot(scheduler.SnapshotOptions{})
//	snap.SetNode(node)
//	node, fitErr := snap.Schedule(pod)
//	if fitErr != nil {
//		return fitErr.Error() // "0/1 nodes are available: 1 Insufficient cpu."
//	}
//	snap.Assume(pod, node)
package scheduler

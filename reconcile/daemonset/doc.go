// Package daemonset is bosun's DaemonSet controller: one daemon pod on every
// eligible node, as Kubernetes' daemon controller (pkg/controller/daemon)
// runs them, in the same Config / New / Reconcile shape as the other
// controllers.
//
// # Which nodes
//
// A node is eligible when the template's nodeName (if set) is the node, its
// nodeSelector and required node affinity match the node's labels and name,
// and every NoSchedule and NoExecute taint of the node is tolerated by the
// template's tolerations plus those Kubernetes gives every daemon pod:
// node.kubernetes.io/not-ready and unreachable (NoExecute), disk-pressure,
// memory-pressure, pid-pressure and unschedulable (NoSchedule), and
// network-unavailable (NoSchedule) for hostNetwork pods. A node with an
// untolerated NoSchedule taint but no untolerated NoExecute one keeps a daemon
// pod it already has ("should continue running") but gets no new one. Only
// labels and taints decide, so Node updates that change neither (heartbeats)
// queue nothing; a node joining or leaving queues every DaemonSet.
//
// # Pods
//
// Each daemon pod is the template plus the daemon tolerations, the labels
// controller-revision-hash (the current ControllerRevision's hash) and
// pod-template-generation, a controller reference to the DaemonSet, and its
// required node affinity replaced by matchFields metadata.name In [NODE]: the
// scheduler binds it to that node. Creates are admitted by Config.Admit
// (ResourceQuota, LimitRange: a refused pod is not created, a Warning Event
// FailedCreate carries the message and the DaemonSet is retried with
// backoff) and written in slow-start batches (1, 2, 4, ...) of etcd
// transactions of up to 50 pods, at most BurstReplicas per pass. Pods that
// must go are deleted as kube-apiserver deletes a pod (api.GracefulPodDelete:
// a running pod gets its deletionTimestamp and its agent stops it within the
// grace period); failed pods are deleted with a per-node backoff (1 s to
// 15 min) and replaced, succeeded ones too; a node with more than one running
// daemon pod keeps the oldest. Pods whose node no longer exists are removed at
// once (Kubernetes leaves bound ones to its pod garbage collector, which
// bosun does not have). Expectations, as Kubernetes' ControllerExpectations,
// keep a lagging cache from making the controller create or delete twice.
//
// # Updates and history
//
// Every template gets a ControllerRevision named <set>-<hash> holding
// {"spec":{"template":{...,"$patch":"replace"}}}, revision numbers growing
// by one (a template seen before is renumbered), hash collisions resolved by
// status.collisionCount; old revisions beyond spec.revisionHistoryLimit
// (default 10) that no pod uses are deleted. RollingUpdate without maxSurge
// deletes old pods while fewer than maxUnavailable (default 1; a percentage
// rounds up) daemon pods are unavailable and the next pass creates their
// replacements; with maxSurge it starts new pods beside old ones (up to
// maxSurge at once, at once where the old pod is unavailable) and deletes the
// old pod when the new one is available. OnDelete replaces a pod only after
// someone deletes it. A pod is up to date when its controller-revision-hash
// or pod-template-generation matches. The template generation is
// kube-apiserver's deprecated.daemonset.template.generation annotation when
// present; bosun's API does not write it, so the current revision number
// stands in (both start at 1 and grow by one per template change).
//
// # Status
//
// As Kubernetes computes it: desiredNumberScheduled (eligible nodes),
// currentNumberScheduled (eligible nodes with a daemon pod),
// numberMisscheduled (other nodes with one), and of the oldest pod on each
// eligible node numberReady, numberAvailable (ready for minReadySeconds),
// updatedNumberScheduled; numberUnavailable = desired − available;
// observedGeneration after a pass that could act; collisionCount.
//
// # Example
//
//	inf := cache.NewInformers(st, log)
//	ds := daemonset.New(daemonset.Config{
//		Writer: st, Getter: st, NewBatch: func() daemonset.Batch { return st.Txn() },
//		Informers: inf, Admit: quotaAdmitter, Recorder: rec, Logger: log,
//	})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	return ds.Run(ctx) // blocks until ctx ends
package daemonset

// Package hpa is the HorizontalPodAutoscaler controller (autoscaling/v2): every
// sync period (Config.SyncPeriod, 15 s as kube-controller-manager's
// --horizontal-pod-autoscaler-sync-period) it reads each HPA's target, the
// target's pods and their resource metrics, and sets the target's
// spec.replicas with Kubernetes' algorithm:
//
//   - Resource metrics (cpu, memory) with a target of type Utilization (the
//     pods' average usage as a percentage of their requests) or AverageValue;
//     desired = ceil(current * usage / target), unchanged while usage / target
//     is within the 10% tolerance. Pods without metrics, not yet ready pods
//     (cpu only: a 5-minute initialization period, a 30-second initial
//     readiness delay) and pods being deleted or failed are treated as the
//     replica calculator of kube-controller-manager treats them.
//   - minReplicas (default 1) and maxReplicas; a target at 0 replicas is not
//     scaled (ScalingActive False, ScalingDisabled).
//   - spec.behavior: stabilization windows (scale-up 0 s, scale-down 300 s by
//     default), rate policies (Pods, Percent, periodSeconds) chosen with
//     selectPolicy Max, Min or Disabled, with Kubernetes' defaults; without
//     a behavior, the legacy rules (scale-down stabilization of 300 s, scale-up
//     to at most max(2 * current, 4) per pass).
//   - status: currentReplicas, desiredReplicas, currentMetrics, lastScaleTime
//     and the conditions AbleToScale, ScalingActive and ScalingLimited with
//     Kubernetes' reasons; Events SuccessfulRescale, FailedGetResourceMetric,
//     FailedGetScale, FailedRescale, FailedComputeMetricsReplicas.
//
// Targets are Deployments, StatefulSets, ReplicaSets and ReplicationControllers:
// their selector is read from the live object and the new size is written to
// its spec.replicas with a compare-and-swap Update. This is the documented
// exception to "controllers write status only" (ARCHITECTURE.md, Who writes
// what): the HPA owns the live replica count of its target, and sync keeps
// that value when it updates the object from Git (see sync/apply).
//
// Metrics come from a MetricsSource, the resource metrics API
// (metrics.k8s.io/v1beta1) as the API server serves it from the agents' stats
// summaries: cmd passes the API server's PodMetrics method (controllers do
// not import apiserver); tests use a fake. Like kube-controller-manager, the
// controller keeps its recommendations and scale events in memory: a new
// leader starts its stabilization windows afresh.
//
// Usage, inside the control plane:
//
//	inf := cache.NewInformers(s, log) // s is a *store.Store
//	h := hpa.New(hpa.Config{Writer: s, Getter: s, Informers: inf, Metrics: src, Recorder: rec, Logger: log})
//	inf.Start(ctx) // after New: New registers its handlers
//	return h.Run(ctx) // blocks until ctx ends
package hpa

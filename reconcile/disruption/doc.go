// Package disruption is bosun's disruption controller: it keeps the status
// of every policy/v1 PodDisruptionBudget (written from Git by sync; the
// controller writes only status) as Kubernetes' pkg/controller/disruption
// does, so that the eviction subresource of the API (and so kubectl drain)
// can honour the budget.
//
// # Status
//
// For a budget, the selected pods are those of its namespace that its
// selector matches (no selector: none; an empty one: all). Then:
//
//   - expectedPods: with an integer minAvailable, the number of selected
//     pods; with maxUnavailable or a percentage minAvailable, the sum of
//     spec.replicas of the pods' controllers, each counted once: a
//     ReplicaSet's Deployment when a Deployment controls it, else the
//     ReplicaSet, or the ReplicationController.
//   - desiredHealthy: the integer minAvailable; a percentage of
//     expectedPods rounded up; or expectedPods minus maxUnavailable (a
//     percentage rounded up), at least 0.
//   - currentHealthy: selected pods that are Ready, not being deleted and not
//     in disruptedPods.
//   - disruptionsAllowed: currentHealthy - desiredHealthy, but 0 when that is
//     negative or expectedPods is 0 (a budget whose first pods just appeared
//     stays safe until counted).
//   - disruptedPods: the pods the eviction subresource let go, kept until the
//     pod is gone or DeletionTimeout (2 minutes) passed since the eviction;
//     the key is looked at again when the first entry expires.
//   - observedGeneration and the DisruptionAllowed condition: True with
//     reason SufficientPods when disruptionsAllowed > 0, else False with
//     InsufficientPods.
//
// Pods without a controller (a bare Pod from Git) cannot count towards a
// scale. As Kubernetes does, with maxUnavailable or a percentage they are
// left out of expectedPods but counted in currentHealthy, and a warning is
// logged naming them (an integer minAvailable counts them correctly). A
// selected pod whose controller is of another kind (a mirror pod's Node) or
// not in the cache yet makes the computation fail: the status then allows
// no disruption (condition False, reason SyncFailed, the error as message)
// and the budget is retried with backoff.
//
// The status is written only when it differs, with compare-and-swap; the
// eviction handler writes the same status (decrementing disruptionsAllowed
// and adding to disruptedPods), so a conflict just means looking again.
// Budgets are enqueued when they change, when a pod they select (before or
// after the change) is added, changed or deleted, and when a ReplicaSet,
// ReplicationController or Deployment of their namespace changes.
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	dc := disruption.New(disruption.Config{Writer: s, Informers: informers, Logger: log})
//	informers.Start(ctx)
//	return dc.Run(ctx) // blocks until ctx ends
package disruption

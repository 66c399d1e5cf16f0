// Package deployment is bosun's Deployment controller: it turns each Deployment
// into ReplicaSets, one per pod template, and rolls from one to the next with
// Kubernetes' semantics, writing the Deployment's status and revision.
//
// Behaviour follows Kubernetes' deployment controller:
//
//   - The ReplicaSet of a pod template is named "<deployment>-<hash>", where the
//     hash (ComputeHash) is FNV-32a of the template plus status.collisionCount;
//     the hash is label "pod-template-hash" on the ReplicaSet, its selector and
//     its template. The ReplicaSet has the Deployment as controller owner, so
//     garbage collection removes it with the Deployment. A template equal to an
//     old ReplicaSet's (ignoring that label) reuses that ReplicaSet: rolling back
//     scales the old one up again under a new revision. A hash that names a
//     ReplicaSet with another template bumps status.collisionCount.
//   - Annotations: "deployment.kubernetes.io/revision" on ReplicaSets (the new one
//     gets the highest old revision plus one) and on the Deployment (mirroring its
//     new ReplicaSet; sync keeps these annotations on Git objects);
//     "deployment.kubernetes.io/desired-replicas" and ".../max-replicas" on
//     ReplicaSets, which proportional scaling uses.
//   - RollingUpdate scales the new ReplicaSet up while all ReplicaSets together
//     have at most replicas+maxSurge (percentages rounded up) and scales old ones
//     down, unavailable replicas first, while at least replicas-maxUnavailable
//     (rounded down) stay available; both zero means maxUnavailable 1.
//     Availability is the ReplicaSets' status.availableReplicas (which honours
//     minReadySeconds), capped at their spec.replicas. Recreate scales every old
//     ReplicaSet to zero, waits until their pods are gone, then scales the new one.
//   - A change of replicas during a rollout is spread over the active
//     ReplicaSets in proportion to their size. A paused Deployment scales but
//     does not roll out.
//   - Conditions Progressing (NewReplicaSetCreated, FoundNewReplicaSet,
//     ReplicaSetUpdated, NewReplicaSetAvailable, or False with
//     ProgressDeadlineExceeded when no progress was made for
//     progressDeadlineSeconds, measured on the Clock) and Available
//     (MinimumReplicasAvailable / MinimumReplicasUnavailable). Reconcile asks to
//     be called again at the deadline, so it fires with no event.
//   - Old ReplicaSets scaled to zero beyond revisionHistoryLimit are deleted,
//     lowest revision first.
//   - ReplicaSets without a controller whose labels match the selector are
//     adopted; owned ones that no longer match are released.
//
// The controller writes only ReplicaSets it owns and the Deployment's status and
// revision annotation, always by compare-and-swap; a conflict requeues the key.
// A deleted Deployment needs nothing from it.
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	dc := deployment.New(deployment.Config{Writer: s, Getter: s, Informers: informers, Logger: log, Workers: 4})
//	informers.Start(ctx) // after New: New registers the handlers
//	return dc.Run(ctx)   // waits for the caches, then reconciles until ctx ends
package deployment

// Package replicaset keeps the pods of ReplicaSets and ReplicationControllers in
// line with their spec, with Kubernetes' semantics: one implementation serves
// both kinds (a ReplicationController is viewed as a ReplicaSet whose selector is
// an equality selector).
//
// For each owner it claims pods (adopts active orphans its selector selects by
// adding a controller ownerReference, releases pods whose labels no longer
// match), then creates pods from the template (generateName "<owner>-",
// template labels and annotations, a controller ownerReference with
// blockOwnerDeletion) or deletes the surplus, and writes status (replicas,
// fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration,
// the ReplicaFailure condition) when it changed. Every write is
// compare-and-swap.
//
// Creates go in slow-start batches of 1, 2, 4, ... pods, at most
// Config.CreateParallelism at once and BurstReplicas per pass; a batch with a
// failure stops the pass. Pods being deleted or terminated (Succeeded, Failed)
// do not count. Surplus pods are deleted in Kubernetes' order: unscheduled
// before scheduled, Pending before Unknown before Running, not ready before
// ready, more related pods on the node first, more recently ready first, more
// restarts first, newest first.
//
// Expectations keep a lagging cache from causing double work: after a pass
// creates N pods (or deletes some), the owner is not acted on again until the
// pod informer has reported those N creations (or those deletions), or
// Config.ExpectationsTimeout passed.
//
// Usage, inside the control plane:
//
//	inf := cache.NewInformers(s, log) // s is a *store.Store
//	newBatch := func() replicaset.Batch { return s.Txn() }
//	rs := replicaset.New(replicaset.Config{Writer: s, Getter: s, NewBatch: newBatch, Informers: inf, Logger: log, Kind: replicaset.KindReplicaSet})
//	rc := replicaset.New(replicaset.Config{Writer: s, Getter: s, NewBatch: newBatch, Informers: inf, Logger: log, Kind: replicaset.KindReplicationController})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	go rc.Run(ctx)
//	return rs.Run(ctx) // blocks until ctx ends
package replicaset

// Package controlplane runs every controller of bosun's control plane —
// Deployments, ReplicaSets, ReplicationControllers, the scheduler,
// Endpoints, Service addresses, PodDisruptionBudget status, node lifecycle,
// garbage collection and the system namespaces (default, kube-system,
// kube-public, kube-node-lease) — on one set of shared informers, under
// leader election.
//
// Several bosun servers may share one etcd: all of them serve the API, but
// only the elected leader runs controllers. A standby takes over when the
// leader's etcd session ends. Each term of leadership
// starts from fresh caches, so a new leader converges from what the store
// holds, never from a predecessor's memory.
//
// Every controller write of a term is fenced (DESIGN.md decision 9): the
// controllers get the store through one adapter whose Create, Update, Delete
// and batches are etcd transactions comparing, besides the object's
// resourceVersion, the term's election key (leader.RunFenced). A leader
// paused past its lease writes nothing when it wakes (store.ErrFenced).
//
//	err := controlplane.Run(ctx, controlplane.Config{Store: s, Logger: logger})
package controlplane

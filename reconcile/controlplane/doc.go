// Package controlplane runs every controller of bosun's control plane —
// Deployments, ReplicaSets, ReplicationControllers, the scheduler,
// Endpoints, Service addresses, node lifecycle and garbage collection — on
// one set of shared informers, under leader election.
//
// Several bosun servers may share one etcd: all of them serve the API and
// sync from Git, but only the elected leader runs controllers. A standby
// takes over when the leader's etcd session ends. Each term of leadership
// starts from fresh caches, so a new leader converges from what the store
// holds, never from a predecessor's memory.
//
//	err := controlplane.Run(ctx, controlplane.Config{Store: s, Logger: logger})
package controlplane

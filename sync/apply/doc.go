// Package apply writes the manifests of one Git commit into the store as
// the desired state, in a single etcd transaction.
//
// # One commit, one step
//
// Apply compares the commit's objects with the objects bosun wrote before
// (those labelled app.kubernetes.io/managed-by=bosun) and builds one
// transaction that creates what is new, updates what changed, deletes
// (prunes) what the commit no longer defines, and records the sync status
// and a history entry (through package records, in the same transaction).
// Every update and delete compares the object's resourceVersion, so a concurrent status write by a controller makes the
// transaction fail as a whole; Apply then reads again and retries. A reader
// therefore sees either the previous commit or the new one, never a mix.
//
// With Input.Fence (the sync loop's leadership, DESIGN.md decision 9) the
// same transaction also compares the leader's election key: a server that
// lost the sync election, even one paused mid-apply past its lease, has its
// transaction refused whole (store.ErrFenced) and writes nothing.
//
// etcd bounds one transaction (--max-txn-ops, default 128, and
// --max-request-bytes, default 1.5 MiB). bosun's embedded etcd is started
// with limits large enough for 10,000 objects; against an external etcd a
// commit above its limits fails with an error that names the limit, and
// nothing is written.
//
// # Who writes which fields
//
// Sync owns metadata.labels, metadata.annotations and the object's content
// (spec, or data for ConfigMaps and Secrets). It never touches status, and
// it keeps what controllers allocate inside a spec: a Service's clusterIP
// and nodePorts and a bare Pod's nodeName when the manifest leaves them
// empty, the deployment.kubernetes.io/ annotations, and the spec.replicas of
// a Deployment, StatefulSet, ReplicaSet or ReplicationController that a
// HorizontalPodAutoscaler scales (Git's count is used when the object is
// created; afterwards the HPA owns it, as Argo CD users configure with
// ignoreDifferences, here by default). An object whose
// content did not change is not written at all, so its bosun.dev/commit annotation names the
// commit that last changed it.
//
// # Plan: the dry run
//
// Plan is the pure half of Apply: given the live objects sync wrote and a
// commit's objects as sync writes them (Desired), it returns each Create,
// Update (with the merged object) and Prune, reading and writing nothing.
// Apply lists the live objects, calls Plan and turns its result into the
// transaction; `bosun diff` (sync/diff) shows the same plan, so the two
// never disagree about what a commit changes.
//
//	a := apply.New(s, logger)
//	attempt, err := a.Apply(ctx, apply.Input{Commit: info, Objects: res.Objects})
//
//	want, err := apply.Desired(m, sha) // for each manifest m
//	changes, err := apply.Plan(live, desired)
package apply

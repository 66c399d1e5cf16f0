// Package autorollback is bosun's automatic rollback controller: when the
// rollout of a Deployment synced from Git fails, it pushes a revert of the
// commit that started the rollout, so the last good desired state comes back
// through Git like any other change.
//
// # When
//
// A Deployment is watched when it carries sync's managed-by label and a
// bosun.dev/commit annotation (the commit that last changed it), and
// automatic rollback is on for it: Config.Enabled (bosun server
// --auto-rollback) turns it on for all, the annotation
// bosun.dev/auto-rollback: "true" for one, and "false" opts one out.
//
// Its rollout has failed when, once the deployment controller has observed
// the current spec and the rollout is not complete (Progressing is not
// NewReplicaSetAvailable):
//   - Progressing is False with reason ProgressDeadlineExceeded, or
//   - a pod of the newest ReplicaSet (highest deployment.kubernetes.io/revision)
//     has a container restarted CrashLoopThreshold times or more (default 3),
//     or waiting with CrashLoopBackOff, ErrImagePull, ImagePullBackOff,
//     CreateContainerConfigError (and similar) while the pod is older than
//     FailingFor (default one minute).
//
// # What
//
// The controller calls Reverter.Revert(sha, why) with why starting "bosun
// reverted this commit automatically: " and naming the Deployment, the
// deadline and up to three failing pods with their reasons. It then records
// the outcome in two places, in one transaction: a Record under
// /bosun/autorollback/<sha> (read with ReadRecords), and a sync history entry
// (appended with records.AppendInTxn) with Result "rolled-back" whose Commit is the reverted commit and whose
// RolledBack names the revert commit and the reason (or the error), so that
// bosun history shows it.
//
// # Dependencies
//
// The controller writes no Git: it calls a Reverter, an interface declared
// here, and cmd/bosun wires in the Git-writing implementation
// (gitwrite.BranchReverter from sync/gitwrite). It reads and appends sync
// history only through package records, the owner of the sync records, and
// uses the record types of sync/state, the one package under sync/ a
// controller may import (plain data, no store, no Git).
//
// # Never twice, never a revert, never a loop
//
// Before calling the Reverter, the controller claims the commit by creating
// its record with an etcd compare-and-swap (create revision 0): a commit is
// reverted at most once, across restarts and leader changes. A commit whose
// record exists (whatever its state: a failed or interrupted revert is not
// retried automatically), a commit whose subject starts with `Revert "`
// (looked up in the sync history; a commit not found there is left alone),
// and a revert this controller made are never reverted. So when the revert's
// own rollout fails too, nothing more happens automatically: the controller
// logs a warning and a person takes over (bosun rollback).
//
// # Fenced
//
// The controller runs under the controllers' leader election, and with
// Config.Fence (set by reconcile/controlplane) its claim and its records are
// written only while that term of leadership holds (DESIGN.md decision 9): a
// leader paused past its lease cannot claim a commit when it wakes, so it
// never pushes a revert; the claim fails with store.ErrFenced instead.
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	ar, err := autorollback.New(autorollback.Config{
//		Store: s, Informers: informers, Logger: log, Enabled: true,
//		Reverter: gitwrite.BranchReverter{Writer: w}, OnRevert: func(string) { syncer.Trigger() },
//	})
//	if err != nil {
//		return err
//	}
//	informers.Start(ctx)
//	return ar.Run(ctx) // blocks until ctx ends
package autorollback

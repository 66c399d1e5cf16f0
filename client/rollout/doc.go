// Package rollout follows the rollout of the synced commit through bosun's
// API until every Deployment synced from Git runs the commit's pod
// template with all replicas available, and says whether it succeeded,
// failed (with the failing pods' reasons) or timed out. It is the engine
// of `bosun status --wait`, meant for CI pipelines.
//
// A Deployment is rolled out when its status has caught up with its spec
// (observedGeneration == generation), updatedReplicas, replicas and
// availableReplicas all equal spec.replicas, and no pod of an older
// ReplicaSet is left. A rollout fails when a Deployment's Progressing
// condition is False with reason ProgressDeadlineExceeded, when a
// container of a pod of its new ReplicaSet waits with reason
// CrashLoopBackOff, ErrImagePull, ImagePullBackOff or InvalidImageName, or
// when the last sync attempt was rejected or failed.
//
// Wait watches Deployments and Pods (re-listing after an error) and also
// re-checks every Options.Interval, so it converges from current state
// like a controller; events only make it look sooner.
//
// Revisions answers `bosun history deploy/NAME`: a Deployment's
// ReplicaSets by revision, each with the commit that made it, found in the
// sync history (CommitAt).
//
// Example:
//
//	res, err := rollout.Wait(ctx, c, rollout.Options{Out: os.Stdout, Terminal: true, Timeout: 5 * time.Minute})
//	if err != nil {
//		return err // ctx cancelled or bad options
//	}
//	switch res.Outcome {
//	case rollout.Succeeded: // exit 0
//	case rollout.Failed: // exit 1; res.Reason and res.FailingPods say why
//	case rollout.TimedOut: // exit 2
//	}
//
//	revs, err := rollout.Revisions(ctx, c, "shop", "web") // oldest first
package rollout

// Package edit turns an operator's change to an object synced from Git into
// a commit on the file the object comes from, the GitOps way: bosun scale,
// bosun set image and bosun rollback deploy/NAME change the repository, and
// sync applies the commit like any other.
//
// Find reads the live object and returns it as a Target: the object, its
// resource and the file named by its bosun.dev/source annotation. Objects
// that sync did not write (no bosun.dev/managed-by label or no source) are
// refused, since there is no file to change. Scale and SetImages then edit
// that one file with package yamledit (only the field changes; comments and
// formatting stay) and commit it through a Writer (package gitwrite), with a
// message that says what changed ("Scale Deployment shop/web to 4
// replicas"). Scale takes Deployments, ReplicaSets, ReplicationControllers
// and StatefulSets and refuses DaemonSets, Jobs and CronJobs, saying what to
// change instead; SetImages takes those and Pods, DaemonSets, Jobs and
// CronJobs (the containers of spec.jobTemplate). LastTemplateChange finds the commit a rollback of a
// Deployment reverts: the latest one that changed its pod template, skipping
// commits that only scaled it.
//
// Errors from the live API and from Git are wrapped, so errors.Is finds
// api.ErrNotFound, gitwrite.ErrNoChange (the file already says so: nothing
// is committed), gitwrite.ErrNotFound, yamledit.ErrNotFound and the like.
//
// Example:
//
//	t, err := edit.Find(ctx, apiClient, "deploy/web", "shop", edit.ScaleKinds()...)
//	if err != nil { ... }
//	res, err := edit.Scale(ctx, gitWriter, t, 4, gitwrite.PushOptions{})
//	if errors.Is(err, gitwrite.ErrNoChange) { ... } // already 4 replicas
//	fmt.Println(res.SHA, res.Message)
package edit

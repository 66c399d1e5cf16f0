// Package diff compares a revision of the Git repository with the live
// desired state: which objects a sync of that revision would add, change
// and prune, a field-level unified diff of each changed object, and which
// Deployments would roll out because their pod template changed. It is the
// engine of `bosun diff`, a pull-request check.
//
// The plan is sync's own: Objects runs apply.Plan, the dry run that
// sync/apply builds its transaction from, over the live objects and the
// revision's manifests (made with apply.Desired), so `bosun diff` cannot
// drift from what a sync does. What the control plane adds to a Git object
// and sync keeps (status, a Service's allocated clusterIP and nodePorts, a
// bare Pod's nodeName, the Deployment controller's deployment.kubernetes.io/*
// annotations, and the spec.replicas of an object a HorizontalPodAutoscaler
// scales) is merged by that same code, so it never shows as a change.
// plan_test.go checks this against a real embedded etcd: for a corpus of
// commit pairs, the objects the diff names are exactly the ones the apply
// then changes.
//
// Both sides of a shown change are normalized to what sync owns (see
// Normalize): kind, name, namespace, labels without
// app.kubernetes.io/managed-by, annotations without bosun.dev/commit and
// bosun.dev/source and bosun.dev/rendered-by, and every top-level field but metadata and status
// (spec, data, type, ...). A planned update that changes only
// bosun.dev/source (a manifest moved within or between files) is therefore
// not shown. The values of a Secret's data are replaced by opaque tokens
// (an HMAC under a key drawn per process and never shown): a diff shows
// that a key changed, and nothing else about the value, not even its
// length.
//
// ReadRevision reads a revision of a local or remote repository (a branch,
// tag or commit) or a local working tree as it is on disk.
//
// Example:
//
//	rev, err := diff.ReadRevision(ctx, diff.RevisionOptions{Repo: "/src/cluster", Rev: "feature"})
//	if err != nil { return err }
//	defer rev.Close()
//	res, err := manifests.Load(rev.Tree, manifests.Options{Path: "deploy"})
//	if err != nil { return err }
//	if err := res.Problems.Err(); err != nil { return err } // invalid: exit 2
//	live, err := diff.ListLive(ctx, c) // c is a *client.Client
//	if err != nil { return err }
//	changes, err := diff.Objects(live, diff.Desired(res.Objects))
//	if err != nil { return err }
//	err = diff.Render(os.Stdout, changes, rev.Name)
package diff

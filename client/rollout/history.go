package rollout

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/sync/state"
)

// annotationRevisionHistory lists the earlier revisions of a ReplicaSet
// that a rollback brought back.
const annotationRevisionHistory = "deployment.kubernetes.io/revision-history"

// HistoryAPI is what Revisions reads through; *client.Client implements it.
type HistoryAPI interface {
	// Get returns one object; a missing one is an error wrapping api.ErrNotFound.
	Get(ctx context.Context, r api.Resource, ns, name string) (api.Object, error)
	// List returns the objects of r in ns that selector picks ("" = all).
	List(ctx context.Context, r api.Resource, ns, selector string) ([]api.Object, error)
	// History returns up to limit sync attempts (0 = all), newest first.
	History(ctx context.Context, limit int) ([]state.Attempt, error)
}

// Revision is one revision of a Deployment: a ReplicaSet it owns, and the
// commit that made it.
type Revision struct {
	// Revision is the ReplicaSet's deployment.kubernetes.io/revision.
	Revision int64 `json:"revision"`
	// Earlier lists the revisions it had before a rollback brought it back
	// (deployment.kubernetes.io/revision-history), e.g. "1,3".
	Earlier string `json:"earlierRevisions,omitempty"`
	// Current is set for the revision the Deployment runs.
	Current bool `json:"current,omitempty"`
	// ReplicaSet is the ReplicaSet's name.
	ReplicaSet string `json:"replicaSet"`
	// Images are the images of its containers.
	Images []string `json:"images"`
	// Created is when the ReplicaSet was created.
	Created time.Time `json:"created"`
	// Commit is the commit that made it; nil when the sync history does not
	// say.
	Commit *state.CommitInfo `json:"commit,omitempty"`
}

// Revisions returns the revisions of Deployment namespace/name, oldest
// first: the ReplicaSets it controls, each with the commit that made it
// (see CommitAt). A missing Deployment is an error wrapping api.ErrNotFound.
func Revisions(ctx context.Context, c HistoryAPI, namespace, name string) ([]Revision, error) {
	deployments, _ := api.Lookup("deployments")
	replicaSets, _ := api.Lookup("replicasets")
	obj, err := c.Get(ctx, deployments, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil, fmt.Errorf("rollout: Deployment %s/%s: got %T", namespace, name, obj)
	}
	objs, err := c.List(ctx, replicaSets, namespace, "")
	if err != nil {
		return nil, fmt.Errorf("rollout: list the ReplicaSets of Deployment %s/%s: %w", namespace, name, err)
	}
	hist, err := c.History(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("rollout: read the sync history: %w", err)
	}
	var out []Revision
	for _, o := range objs {
		rs, ok := o.(*appsv1.ReplicaSet)
		if !ok {
			continue
		}
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		rev, _ := strconv.ParseInt(rs.Annotations[annotationRevision], 10, 64)
		row := Revision{
			Revision:   rev,
			Earlier:    rs.Annotations[annotationRevisionHistory],
			Current:    rs.Annotations[annotationRevision] == d.Annotations[annotationRevision],
			ReplicaSet: rs.Name,
			Created:    rs.CreationTimestamp.Time,
		}
		for _, ct := range rs.Spec.Template.Spec.Containers {
			row.Images = append(row.Images, ct.Image)
		}
		if a, ok := CommitAt(hist, rs.CreationTimestamp.Time); ok {
			ci := a.Commit
			row.Commit = &ci
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

// CommitAt returns the commit that made a ReplicaSet created at created:
// the last applied attempt with changes made at or before then, since the
// Deployment controller creates a new ReplicaSet right after a commit
// changes the pod template. hist is newest first, as the API returns it;
// creationTimestamp has whole seconds, so attempts are compared truncated
// to the second.
func CommitAt(hist []state.Attempt, created time.Time) (state.Attempt, bool) {
	for _, a := range hist {
		if a.Result != state.ResultApplied || a.Created+a.Updated == 0 {
			continue
		}
		if !a.Time.Truncate(time.Second).After(created) {
			return a, true
		}
	}
	return state.Attempt{}, false
}

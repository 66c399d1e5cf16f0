package daemonset

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/reconcile/deployment"
)

// DefaultRevisionHistoryLimit is how many old ControllerRevisions a DaemonSet
// without spec.revisionHistoryLimit keeps, as Kubernetes defaults it.
const DefaultRevisionHistoryLimit = 10

// templatePatch returns what a ControllerRevision of ds stores: a strategic
// merge patch replacing spec.template, as Kubernetes' daemon controller
// writes it ({"spec":{"template":{...,"$patch":"replace"}}}).
func templatePatch(ds *appsv1.DaemonSet) ([]byte, error) {
	b, err := json.Marshal(&ds.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("encode spec.template: %w", err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(b, &tmpl); err != nil {
		return nil, fmt.Errorf("decode spec.template: %w", err)
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// matches reports whether rev stores ds's current template.
func matches(patch []byte, rev *appsv1.ControllerRevision) bool {
	if bytes.Equal(patch, rev.Data.Raw) {
		return true
	}
	// The store may have re-encoded the raw JSON: compare the values.
	var a, b any
	if json.Unmarshal(patch, &a) != nil || json.Unmarshal(rev.Data.Raw, &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// history is a DaemonSet's current revision and the old ones.
type history struct {
	cur *appsv1.ControllerRevision
	old []*appsv1.ControllerRevision
}

// hash returns the current revision's controller-revision-hash.
func (h history) hash() string { return h.cur.Labels[LabelRevisionHash] }

// templateGeneration returns ds's template generation: kube-apiserver's
// annotation when present, else the current revision number (the same
// number in a DaemonSet's ordinary history).
func (h history) templateGeneration(ds *appsv1.DaemonSet) int64 {
	if v, ok := ds.Annotations[AnnotationTemplateGeneration]; ok {
		if g, err := strconv.ParseInt(v, 10, 64); err == nil {
			return g
		}
	}
	return h.cur.Revision
}

// constructHistory claims ds's ControllerRevisions, finds (or creates) the one
// of its current template, renumbers it past the old ones, and returns them,
// as Kubernetes' constructHistory.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) (history, error) {
	revs, err := c.claimRevisions(ctx, ds, sel)
	if err != nil {
		return history{}, err
	}
	patch, err := templatePatch(ds)
	if err != nil {
		return history{}, fmt.Errorf("daemonset %s: %w", reconcile.KeyOf(ds), err)
	}
	var h history
	var current []*appsv1.ControllerRevision
	for _, r := range revs {
		if r.Labels[LabelRevisionHash] == "" {
			r = r.DeepCopy()
			if r.Labels == nil {
				r.Labels = map[string]string{}
			}
			r.Labels[LabelRevisionHash] = r.Name
			if err := c.writer.Update(ctx, r); err != nil {
				return history{}, fmt.Errorf("daemonset %s: label controllerrevision %s: %w", reconcile.KeyOf(ds), r.Name, err)
			}
		}
		if matches(patch, r) {
			current = append(current, r)
		} else {
			h.old = append(h.old, r)
		}
	}
	next := maxRevision(h.old) + 1
	if len(current) == 0 {
		h.cur, err = c.snapshot(ctx, ds, patch, next)
		return h, err
	}
	if h.cur, err = c.dedupRevisions(ctx, ds, current); err != nil {
		return history{}, err
	}
	if h.cur.Revision < next {
		r := h.cur.DeepCopy()
		r.Revision = next
		if err := c.writer.Update(ctx, r); err != nil {
			return history{}, fmt.Errorf("daemonset %s: renumber controllerrevision %s: %w", reconcile.KeyOf(ds), r.Name, err)
		}
		h.cur = r
	}
	return h, nil
}

func maxRevision(revs []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, r := range revs {
		m = max(m, r.Revision)
	}
	return m
}

// snapshot creates the ControllerRevision of ds's current template, named
// <ds>-<hash>. A name taken by another template is a hash collision: it bumps
// status.collisionCount (so the next pass hashes differently) and fails.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, patch []byte, revision int64) (*appsv1.ControllerRevision, error) {
	hash := deployment.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := maps.Clone(ds.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[LabelRevisionHash] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     maps.Clone(ds.Annotations),
			OwnerReferences: []metav1.OwnerReference{controllerRef(ds)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	err := c.writer.Create(ctx, rev)
	if err == nil {
		return rev, nil
	}
	if !errors.Is(err, api.ErrExists) {
		return nil, fmt.Errorf("daemonset %s: create controllerrevision %s: %w", reconcile.KeyOf(ds), rev.Name, err)
	}
	existing := &appsv1.ControllerRevision{}
	if gerr := c.getter.Get(ctx, ds.Namespace, rev.Name, existing); gerr != nil {
		return nil, fmt.Errorf("daemonset %s: read controllerrevision %s: %w", reconcile.KeyOf(ds), rev.Name, gerr)
	}
	if matches(patch, existing) {
		return existing, nil
	}
	return nil, c.bumpCollisionCount(ctx, ds, rev.Name, err)
}

// bumpCollisionCount raises status.collisionCount of the stored ds, unless
// the count ds was hashed with is stale already; it returns an error either
// way, so that the DaemonSet is reconciled again.
func (c *Controller) bumpCollisionCount(ctx context.Context, ds *appsv1.DaemonSet, name string, collision error) error {
	fresh := &appsv1.DaemonSet{}
	if err := c.getter.Get(ctx, ds.Namespace, ds.Name, fresh); err != nil {
		return fmt.Errorf("daemonset %s: re-read after a hash collision: %w", reconcile.KeyOf(ds), err)
	}
	if !reflect.DeepEqual(fresh.Status.CollisionCount, ds.Status.CollisionCount) {
		return fmt.Errorf("daemonset %s: stale collisionCount; retrying: %w", reconcile.KeyOf(ds), api.ErrConflict)
	}
	n := int32(0)
	if fresh.Status.CollisionCount != nil {
		n = *fresh.Status.CollisionCount
	}
	n++
	fresh.Status.CollisionCount = &n
	if err := c.writer.Update(ctx, fresh); err != nil {
		return fmt.Errorf("daemonset %s: bump collisionCount: %w", reconcile.KeyOf(ds), err)
	}
	c.log.Info("hash collision of a ControllerRevision name: collisionCount raised", "daemonset", reconcile.KeyOf(ds), "revision", name, "collisionCount", n)
	return fmt.Errorf("daemonset %s: controllerrevision %s holds another template: %w", reconcile.KeyOf(ds), name, collision)
}

// dedupRevisions keeps the highest-numbered of several revisions of the same
// template: pods labelled with the others' hashes are relabelled, then the
// others are deleted.
func (c *Controller) dedupRevisions(ctx context.Context, ds *appsv1.DaemonSet, revs []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	keep := revs[0]
	for _, r := range revs[1:] {
		if r.Revision >= keep.Revision {
			keep = r
		}
	}
	if len(revs) == 1 {
		return keep, nil
	}
	hash := keep.Labels[LabelRevisionHash]
	for _, obj := range c.pods.ByIndex(indexOwner, string(ds.UID)) {
		p := obj.(*corev1.Pod)
		if p.Labels[LabelRevisionHash] == hash || !isControlledBy(p, ds) {
			continue
		}
		p = p.DeepCopy()
		p.Labels[LabelRevisionHash] = hash
		if err := c.writer.Update(ctx, p); err != nil && !errors.Is(err, api.ErrNotFound) {
			return nil, fmt.Errorf("daemonset %s: relabel pod %s: %w", reconcile.KeyOf(ds), p.Name, err)
		}
	}
	for _, r := range revs {
		if r.Name == keep.Name {
			continue
		}
		if err := c.writer.Delete(ctx, c.revisionsRes, r.Namespace, r.Name, r.ResourceVersion); err != nil && !errors.Is(err, api.ErrNotFound) {
			return nil, fmt.Errorf("daemonset %s: delete duplicate controllerrevision %s: %w", reconcile.KeyOf(ds), r.Name, err)
		}
	}
	return keep, nil
}

// cleanupHistory deletes the oldest revisions beyond spec.revisionHistoryLimit
// that no pod of ds (terminating and terminated ones included) still uses.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := int32(DefaultRevisionHistoryLimit)
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = *ds.Spec.RevisionHistoryLimit
	}
	toKill := len(old) - int(limit)
	if toKill <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[LabelRevisionHash]; h != "" {
			live[h] = true
		}
	}
	old = slices.Clone(old)
	slices.SortStableFunc(old, func(a, b *appsv1.ControllerRevision) int { return cmp.Compare(a.Revision, b.Revision) })
	for _, r := range old {
		if toKill <= 0 {
			break
		}
		if live[r.Labels[LabelRevisionHash]] {
			continue
		}
		if err := c.writer.Delete(ctx, c.revisionsRes, r.Namespace, r.Name, r.ResourceVersion); err != nil && !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("daemonset %s: delete old controllerrevision %s: %w", reconcile.KeyOf(ds), r.Name, err)
		}
		toKill--
	}
	return nil
}

package deployment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// Reconcile converges the Deployment named by key ("namespace/name"): it adopts
// and releases ReplicaSets, creates or reuses the ReplicaSet of the current pod
// template, scales ReplicaSets by the Deployment's strategy, deletes history
// beyond revisionHistoryLimit and writes the Deployment's status and revision
// annotation. It reads from the informer caches and writes with compare-and-swap:
// a conflict (someone wrote first, or the cache is behind) returns Requeue. While
// a rollout is under way it returns RequeueAfter for the progress deadline, so
// ProgressDeadlineExceeded is reported without any event. A Deployment that is
// gone needs nothing (garbage collection removes its ReplicaSets).
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.deployments.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	cached, ok := obj.(*appsv1.Deployment)
	if !ok {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("deployment: %s: cache holds a %T", key, obj))
	}
	d := cached.DeepCopy()
	start := c.clock.Now()
	err := c.sync(ctx, d)
	switch {
	case errors.Is(err, api.ErrConflict), errors.Is(err, api.ErrNotFound):
		// Someone else wrote first, or our cache is behind: look again.
		c.log.Debug("deployment changed while reconciling; requeueing", "key", key, "err", err)
		return reconcile.Result{Requeue: true}, nil
	case err != nil:
		return reconcile.Result{}, err
	}
	c.log.Debug("deployment reconciled", "key", key, "took", c.clock.Since(start))
	if after := c.deadlineRequeue(d); after > 0 {
		return reconcile.Result{RequeueAfter: after}, nil
	}
	return reconcile.Result{}, nil
}

// sync is one pass over d (a private copy, kept current with every write).
func (c *Controller) sync(ctx context.Context, d *appsv1.Deployment) error {
	key := d.Namespace + "/" + d.Name
	if d.Spec.Selector == nil || (len(d.Spec.Selector.MatchLabels) == 0 && len(d.Spec.Selector.MatchExpressions) == 0) {
		c.log.Warn("deployment selects every pod; give it a non-empty spec.selector", "deployment", key)
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateDeployment(ctx, d)
		}
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return reconcile.Terminal(fmt.Errorf("deployment: %s: spec.selector: %w", key, err))
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return reconcile.Terminal(fmt.Errorf("deployment: %s: spec.selector does not match spec.template.metadata.labels; make them match", key))
	}
	if _, _, err := resolveFenceposts(d); err != nil {
		return reconcile.Terminal(fmt.Errorf("deployment: %s: spec.strategy.rollingUpdate.%w", key, err))
	}

	rsList, err := c.claimReplicaSets(ctx, d, sel)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
		if err != nil {
			return err
		}
		return c.syncDeploymentStatus(ctx, append(oldRSs, newRS), newRS, d)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return c.rolloutRecreate(ctx, d, rsList, sel)
	}
	return c.rolloutRolling(ctx, d, rsList)
}

// updateDeployment writes d (metadata annotations and status) by compare-and-swap;
// on success d carries the new resourceVersion.
func (c *Controller) updateDeployment(ctx context.Context, d *appsv1.Deployment) error {
	if err := c.writer.Update(ctx, d); err != nil {
		return fmt.Errorf("deployment: update %s/%s: %w", d.Namespace, d.Name, err)
	}
	return nil
}

// claimReplicaSets returns the ReplicaSets d controls after adopting orphans its
// selector matches and releasing owned ones it no longer matches. The objects
// returned may be shared with the cache: never change them in place.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	seen := map[string]bool{}
	var candidates []*appsv1.ReplicaSet
	add := func(objs []api.Object) {
		for _, o := range objs {
			rs, ok := o.(*appsv1.ReplicaSet)
			if !ok || rs.Namespace != d.Namespace || seen[string(rs.UID)] {
				continue
			}
			seen[string(rs.UID)] = true
			candidates = append(candidates, rs)
		}
	}
	add(c.replicaSets.ByIndex(indexControllerUID, string(d.UID)))
	add(c.replicaSets.List(d.Namespace, sel))

	var out []*appsv1.ReplicaSet
	rechecked := false
	for _, rs := range candidates {
		ref := metav1.GetControllerOf(rs)
		matches := sel.Matches(labels.Set(rs.Labels))
		if ref != nil {
			if ref.UID != d.UID {
				continue
			}
			if matches {
				out = append(out, rs)
				continue
			}
			if d.DeletionTimestamp != nil {
				continue
			}
			if err := c.release(ctx, d, rs); err != nil {
				return nil, err
			}
			continue
		}
		if !matches || d.DeletionTimestamp != nil || rs.DeletionTimestamp != nil {
			continue
		}
		if !rechecked {
			// As Kubernetes does, check the live Deployment once before
			// adopting: a Deployment deleted and recreated under the same
			// name must not adopt on behalf of the old one.
			if err := c.recheckDeployment(ctx, d); err != nil {
				return nil, err
			}
			rechecked = true
		}
		adopted, err := c.adopt(ctx, d, rs)
		if err != nil {
			return nil, err
		}
		if adopted != nil {
			out = append(out, adopted)
		}
	}
	return out, nil
}

// recheckDeployment reads d from the store and fails unless it is still the
// same, undeleted Deployment.
func (c *Controller) recheckDeployment(ctx context.Context, d *appsv1.Deployment) error {
	var fresh appsv1.Deployment
	if err := c.getter.Get(ctx, d.Namespace, d.Name, &fresh); err != nil {
		return fmt.Errorf("deployment: recheck %s/%s before adopting: %w", d.Namespace, d.Name, err)
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("deployment: %s/%s: %w: uid is %s, cached %s", d.Namespace, d.Name, api.ErrConflict, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("deployment: %s/%s: %w: being deleted", d.Namespace, d.Name, api.ErrConflict)
	}
	return nil
}

func (c *Controller) adopt(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	cp.OwnerReferences = append(cp.OwnerReferences, *metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment")))
	if err := c.writer.Update(ctx, cp); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil, nil // gone: nothing to adopt
		}
		return nil, fmt.Errorf("deployment: %s/%s: adopt replica set %s: %w", d.Namespace, d.Name, rs.Name, err)
	}
	c.log.Info("adopted replica set", "deployment", d.Namespace+"/"+d.Name, "replicaSet", rs.Name)
	return cp, nil
}

func (c *Controller) release(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) error {
	cp := rs.DeepCopy()
	cp.OwnerReferences = slices.DeleteFunc(cp.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == d.UID })
	if len(cp.OwnerReferences) == 0 {
		cp.OwnerReferences = nil
	}
	if err := c.writer.Update(ctx, cp); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("deployment: %s/%s: release replica set %s: %w", d.Namespace, d.Name, rs.Name, err)
	}
	c.log.Info("released replica set whose labels no longer match", "deployment", d.Namespace+"/"+d.Name, "replicaSet", rs.Name)
	return nil
}

// findNewReplicaSet returns the oldest ReplicaSet whose template equals d's,
// ignoring the pod-template-hash label, or nil.
func findNewReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := slices.Clone(rsList)
	sortByCreation(sorted)
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// getAllReplicaSetsAndSyncRevision returns the new ReplicaSet (nil when there is
// none and create is false) and all old ones. It brings the new ReplicaSet's
// annotations and revision up to date, mirrors its revision on d and, with
// create, creates it.
func (c *Controller) getAllReplicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rsList)
	var oldRSs []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if existing == nil || rs.UID != existing.UID {
			oldRSs = append(oldRSs, rs)
		}
	}
	newRS, err := c.getNewReplicaSet(ctx, d, existing, oldRSs, create)
	if err != nil {
		return nil, nil, err
	}
	return newRS, oldRSs, nil
}

func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, existing *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	key := d.Namespace + "/" + d.Name
	newRevision := maxRevision(oldRSs) + 1
	if existing != nil {
		rs := existing.DeepCopy()
		annotationsChanged := setNewReplicaSetAnnotations(d, rs, newRevision, true)
		if annotationsChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			if err := c.writer.Update(ctx, rs); err != nil {
				return nil, fmt.Errorf("deployment: %s: update new replica set %s: %w", key, rs.Name, err)
			}
		}
		needsUpdate := setDeploymentRevision(d, rs.Annotations[AnnotationRevision])
		if hasProgressDeadline(d) && getCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionTrue,
				ReasonFoundNewReplicaSet, fmt.Sprintf("Found new replica set %q", rs.Name)))
			needsUpdate = true
		}
		if needsUpdate {
			if err := c.updateDeployment(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	template := d.Spec.Template.DeepCopy()
	hash := ComputeHash(template, d.Status.CollisionCount)
	template.Labels = cloneWith(d.Spec.Template.Labels, LabelPodTemplateHash, hash)
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[LabelPodTemplateHash] = hash
	rsLabels := cloneWith(template.Labels, LabelPodTemplateHash, hash)
	if rsLabels[api.LabelManagedBy] == api.ManagedByValue {
		delete(rsLabels, api.LabelManagedBy)
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
			Labels:          rsLabels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        ptr.To[int32](0),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        *template,
		},
	}
	rs.Spec.Replicas = ptr.To(newRSNewReplicas(d, oldRSs, rs))
	setNewReplicaSetAnnotations(d, rs, newRevision, false)

	alreadyExists := false
	err := c.writer.Create(ctx, rs)
	switch {
	case err == nil:
	case errors.Is(err, api.ErrExists):
		var live appsv1.ReplicaSet
		if gerr := c.getter.Get(ctx, d.Namespace, rs.Name, &live); gerr != nil {
			return nil, fmt.Errorf("deployment: %s: read existing replica set %s: %w", key, rs.Name, gerr)
		}
		if ref := metav1.GetControllerOf(&live); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &live.Spec.Template) {
			// Ours, created by an earlier pass the cache has not seen yet.
			rs, alreadyExists = &live, true
			break
		}
		// A different template hashed to the same name: bump the collision
		// count so the next pass computes another hash.
		d.Status.CollisionCount = ptr.To(replicas(d.Status.CollisionCount, 0) + 1)
		if uerr := c.updateDeployment(ctx, d); uerr != nil {
			return nil, uerr
		}
		c.log.Info("pod template hash collided with another replica set; retrying with a new collision count",
			"deployment", key, "replicaSet", rs.Name, "collisionCount", *d.Status.CollisionCount)
		return nil, fmt.Errorf("deployment: %s: replica set %s exists with another template: hash collision, collisionCount now %d",
			key, rs.Name, *d.Status.CollisionCount)
	default:
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionFalse,
				ReasonFailedReplicaSetCreate, fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)))
			if uerr := c.updateDeployment(ctx, d); uerr != nil {
				c.log.Warn("could not record failed replica set creation", "deployment", key, "err", uerr)
			}
		}
		return nil, fmt.Errorf("deployment: %s: create replica set %s: %w", key, rs.Name, err)
	}
	if !alreadyExists {
		c.log.Info("created new replica set", "deployment", key, "replicaSet", rs.Name,
			"replicas", rsReplicas(rs), "revision", rs.Annotations[AnnotationRevision])
		if n := rsReplicas(rs); n > 0 {
			c.rec.Eventf(events.Ref(d), corev1.EventTypeNormal, ReasonScalingReplicaSet,
				"Scaled up replica set %s from 0 to %d", rs.Name, n)
		}
	}
	needsUpdate := setDeploymentRevision(d, strconv.FormatInt(newRevision, 10))
	if !alreadyExists && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionTrue,
			ReasonNewReplicaSetCreated, fmt.Sprintf("Created new replica set %q", rs.Name)))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateDeployment(ctx, d); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

func cloneWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for mk, mv := range m {
		out[mk] = mv
	}
	out[k] = v
	return out
}

// setDeploymentRevision sets d's revision annotation; it reports a change.
func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if d.Annotations[AnnotationRevision] == rev {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[AnnotationRevision] = rev
	return true
}

// newRSNewReplicas is how many replicas the new ReplicaSet should have now:
// everything for Recreate; for RollingUpdate as many more as maxSurge allows.
func newRSNewReplicas(d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return desiredReplicas(d)
	}
	n := desiredReplicas(d)
	current := sumSpecReplicas(oldRSs) + rsReplicas(newRS)
	maxTotal := n + maxSurge(d)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	return rsReplicas(newRS) + min(maxTotal-current, n-rsReplicas(newRS))
}

// scaleAndRecord sets rs's replicas to n (and its replica annotations) unless it
// has n already. It returns whether it scaled and the ReplicaSet as now stored.
func (c *Controller) scaleAndRecord(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(rs) == n {
		return false, rs, nil
	}
	return c.scaleReplicaSet(ctx, d, rs, n)
}

// scaleReplicaSet sets rs's replicas to n and its desired/max replicas
// annotations to d's, when either differs. It reports whether the size changed.
func (c *Controller) scaleReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	desired := desiredReplicas(d)
	maxReplicas := desired + maxSurge(d)
	sizeChanged := rsReplicas(rs) != n
	if !sizeChanged && !replicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false, rs, nil
	}
	cp := rs.DeepCopy()
	from := rsReplicas(rs)
	cp.Spec.Replicas = ptr.To(n)
	setReplicasAnnotations(cp, desired, maxReplicas)
	if err := c.writer.Update(ctx, cp); err != nil {
		return false, nil, fmt.Errorf("deployment: %s/%s: scale replica set %s from %d to %d: %w", d.Namespace, d.Name, rs.Name, from, n, err)
	}
	if sizeChanged {
		verb := "up"
		if n < from {
			verb = "down"
		}
		c.log.Info("scaled "+verb+" replica set", "deployment", d.Namespace+"/"+d.Name, "replicaSet", rs.Name, "from", from, "to", n)
		c.rec.Eventf(events.Ref(d), corev1.EventTypeNormal, ReasonScalingReplicaSet,
			"Scaled %s replica set %s from %d to %d", verb, rs.Name, from, n)
	}
	return sizeChanged, cp, nil
}

// checkPausedConditions records pausing and resuming in the Progressing
// condition (unless the deadline was already reported exceeded).
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonProgressDeadlineExceeded {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == ReasonDeploymentPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionUnknown,
			ReasonDeploymentPaused, "Deployment is paused"))
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionUnknown,
			ReasonDeploymentResumed, "Deployment is resumed"))
	default:
		return nil
	}
	return c.updateDeployment(ctx, d)
}

// isScalingEvent says whether spec.replicas changed since the active
// ReplicaSets were last scaled (their desired-replicas annotation).
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeReplicaSets(append(oldRSs, newRS)) {
		if v, ok := int32Annotation(rs, AnnotationDesiredReplicas); ok && v != desiredReplicas(d) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles a paused Deployment or a change of spec.replicas: it scales
// the ReplicaSets (proportionally during a rollout) without rolling out.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if newRS, err = c.scale(ctx, d, newRS, oldRSs); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, append(slices.Clone(oldRSs), newRS), newRS, d)
}

// scale resizes the ReplicaSets to spec.replicas: all of it to the only active
// one; when the new one is saturated, old ones to zero; otherwise, during a
// rolling update, the difference is spread over the active ReplicaSets in
// proportion to their size, as Kubernetes does. oldRSs entries are replaced
// with their updated versions; the (possibly updated) new ReplicaSet is returned.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	n := desiredReplicas(d)
	replace := func(updated *appsv1.ReplicaSet) {
		if newRS != nil && updated.UID == newRS.UID {
			newRS = updated
			return
		}
		for i := range oldRSs {
			if oldRSs[i].UID == updated.UID {
				oldRSs[i] = updated
			}
		}
	}
	if rs := findActiveOrLatest(newRS, oldRSs); rs != nil {
		if rsReplicas(rs) == n {
			return newRS, nil
		}
		_, updated, err := c.scaleReplicaSet(ctx, d, rs, n)
		if err != nil {
			return nil, err
		}
		replace(updated)
		return newRS, nil
	}
	if isSaturated(d, newRS) {
		for _, rs := range activeReplicaSets(oldRSs) {
			_, updated, err := c.scaleReplicaSet(ctx, d, rs, 0)
			if err != nil {
				return nil, err
			}
			replace(updated)
		}
		return newRS, nil
	}
	if !isRollingUpdate(d) {
		return newRS, nil
	}
	all := activeReplicaSets(append(slices.Clone(oldRSs), newRS))
	allowed := n
	if n > 0 {
		allowed = n + maxSurge(d)
	}
	toAdd := allowed - sumSpecReplicas(all)
	switch {
	case toAdd > 0:
		sortBySizeNewer(all)
	case toAdd < 0:
		sortBySizeOlder(all)
	}
	sizes := make(map[string]int32, len(all))
	var added int32
	for _, rs := range all {
		if toAdd == 0 {
			sizes[rs.Name] = rsReplicas(rs)
			continue
		}
		p := proportion(d, rs, toAdd, added)
		sizes[rs.Name] = rsReplicas(rs) + p
		added += p
	}
	if toAdd != added && len(all) > 0 {
		sizes[all[0].Name] = max(sizes[all[0].Name]+toAdd-added, 0)
	}
	for _, rs := range all {
		_, updated, err := c.scaleReplicaSet(ctx, d, rs, sizes[rs.Name])
		if err != nil {
			return nil, err
		}
		replace(updated)
	}
	return newRS, nil
}

// findActiveOrLatest returns the only active ReplicaSet, or with none active
// the new one (else the newest old one); nil when several are active.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	sorted := slices.Clone(oldRSs)
	sortByCreation(sorted)
	active := activeReplicaSets(append(slices.Clone(sorted), newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

// proportion is how many replicas rs gains (or loses) of toAdd, given that
// added were already handed out: its share by size against the max-replicas it
// was last scaled for, never beyond what is left.
func proportion(d *appsv1.Deployment, rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rs == nil || rsReplicas(rs) == 0 || toAdd == added {
		return 0
	}
	f := fraction(d, rs)
	left := toAdd - added
	if toAdd > 0 {
		return min(f, left)
	}
	return max(f, left)
}

func fraction(d *appsv1.Deployment, rs *appsv1.ReplicaSet) int32 {
	n := desiredReplicas(d)
	if n == 0 {
		return -rsReplicas(rs)
	}
	total := n + maxSurge(d)
	annotated, ok := int32Annotation(rs, AnnotationMaxReplicas)
	if !ok {
		annotated = d.Status.Replicas
	}
	if annotated <= 0 {
		return 0 // nothing to scale by; the leftover goes to the largest set
	}
	return roundToInt32(float64(rsReplicas(rs))*float64(total)/float64(annotated)) - rsReplicas(rs)
}

// cleanupDeployment deletes the oldest old ReplicaSets with no replicas beyond
// revisionHistoryLimit (default 10).
func (c *Controller) cleanupDeployment(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	limit := replicas(d.Spec.RevisionHistoryLimit, defaultRevisionHistoryLimit)
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs != nil && rs.DeletionTimestamp == nil {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(limit)
	if diff <= 0 {
		return nil
	}
	cleanable = slices.Clone(cleanable)
	sortByRevision(cleanable)
	for _, rs := range cleanable[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.writer.Delete(ctx, c.rsResource, rs.Namespace, rs.Name, rs.ResourceVersion)
		if errors.Is(err, api.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("deployment: %s/%s: delete old replica set %s: %w", d.Namespace, d.Name, rs.Name, err)
		}
		c.log.Info("deleted old replica set beyond revisionHistoryLimit", "deployment", d.Namespace+"/"+d.Name,
			"replicaSet", rs.Name, "revision", rs.Annotations[AnnotationRevision], "limit", limit)
	}
	return nil
}

// calculateStatus derives d's status from its ReplicaSets, keeping conditions
// and setting Available.
func (c *Controller) calculateStatus(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) appsv1.DeploymentStatus {
	available := sumAvailableReplicas(allRSs)
	unavailable := max(sumSpecReplicas(allRSs)-available, 0)
	st := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            sumStatusReplicas(allRSs),
		UpdatedReplicas:     sumStatusReplicas([]*appsv1.ReplicaSet{newRS}),
		ReadyReplicas:       sumReadyReplicas(allRSs),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          slices.Clone(d.Status.Conditions),
	}
	if available >= desiredReplicas(d)-maxUnavailable(d) {
		setCondition(&st, newCondition(c.clock.Now(), appsv1.DeploymentAvailable, corev1.ConditionTrue,
			ReasonMinimumReplicasAvailable, "Deployment has minimum availability."))
	} else {
		setCondition(&st, newCondition(c.clock.Now(), appsv1.DeploymentAvailable, corev1.ConditionFalse,
			ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability."))
	}
	return st
}

// syncDeploymentStatus writes the status derived from the ReplicaSets when it differs.
func (c *Controller) syncDeploymentStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	st := c.calculateStatus(allRSs, newRS, d)
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return c.updateDeployment(ctx, d)
}

// syncRolloutStatus writes the status of a rollout: counts, Available, and the
// Progressing condition (complete, progressing, or past its deadline), plus any
// ReplicaFailure of the ReplicaSets.
func (c *Controller) syncRolloutStatus(ctx context.Context, allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	st := c.calculateStatus(allRSs, newRS, d)
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	now := c.clock.Now()
	cur := getCondition(&d.Status, appsv1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewReplicaSetAvailable
	if hasProgressDeadline(d) && !complete {
		subject := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &st):
			setCondition(&st, newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionTrue,
				ReasonNewReplicaSetAvailable, subject+" has successfully progressed."))
		case deploymentProgressing(d, &st):
			cond := newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionTrue,
				ReasonReplicaSetUpdated, subject+" is progressing.")
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			setCondition(&st, cond)
		case deploymentTimedOut(d, &st, now):
			setCondition(&st, newCondition(now, appsv1.DeploymentProgressing, corev1.ConditionFalse,
				ReasonProgressDeadlineExceeded, subject+" has timed out progressing."))
		}
	}
	if f := replicaFailure(allRSs, newRS); f != nil {
		setCondition(&st, *f)
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}
	if apiequality.Semantic.DeepEqual(d.Status, st) {
		return nil
	}
	d.Status = st
	return c.updateDeployment(ctx, d)
}

// replicaFailure returns the ReplicaFailure condition of the new ReplicaSet, else
// of an old one, as a Deployment condition; nil when there is none.
func replicaFailure(allRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	ordered := append([]*appsv1.ReplicaSet{newRS}, allRSs...)
	for _, rs := range ordered {
		if rs == nil {
			continue
		}
		for _, rc := range rs.Status.Conditions {
			if rc.Type != appsv1.ReplicaSetReplicaFailure {
				continue
			}
			return &appsv1.DeploymentCondition{
				Type: appsv1.DeploymentReplicaFailure, Status: rc.Status, Reason: rc.Reason, Message: rc.Message,
				LastUpdateTime: rc.LastTransitionTime, LastTransitionTime: rc.LastTransitionTime,
			}
		}
	}
	return nil
}

// deadlineRequeue is when to look at d again so that an exceeded progress
// deadline is reported without any event: a second after the deadline of the
// current Progressing condition; 0 when no deadline is pending.
func (c *Controller) deadlineRequeue(d *appsv1.Deployment) time.Duration {
	if d.Spec.Paused || !hasProgressDeadline(d) || deploymentComplete(d, &d.Status) {
		return 0
	}
	cond := getCondition(&d.Status, appsv1.DeploymentProgressing)
	if cond == nil {
		return 0
	}
	switch cond.Reason {
	case ReasonNewReplicaSetAvailable, ReasonProgressDeadlineExceeded, ReasonDeploymentPaused:
		return 0
	}
	after := cond.LastUpdateTime.Add(time.Duration(progressDeadline(d)) * time.Second).Sub(c.clock.Now())
	if after < time.Second {
		return time.Second
	}
	// One second more, so the condition is strictly past its deadline then.
	return after + time.Second
}

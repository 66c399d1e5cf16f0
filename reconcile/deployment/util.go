package deployment

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Labels and annotations the controller reads and writes, as Kubernetes names them.
const (
	// LabelPodTemplateHash is set on a ReplicaSet's selector, template labels
	// and metadata labels to the hash of its pod template.
	LabelPodTemplateHash = "pod-template-hash"
	// AnnotationRevision is the rollout revision of a ReplicaSet; on a Deployment
	// it mirrors the revision of its new ReplicaSet.
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationRevisionHistory lists, comma-separated, the earlier revisions a
	// reused ReplicaSet had.
	AnnotationRevisionHistory = "deployment.kubernetes.io/revision-history"
	// AnnotationDesiredReplicas is the Deployment's spec.replicas when the
	// ReplicaSet was last scaled.
	AnnotationDesiredReplicas = "deployment.kubernetes.io/desired-replicas"
	// AnnotationMaxReplicas is spec.replicas plus maxSurge when the ReplicaSet
	// was last scaled; proportional scaling uses it.
	AnnotationMaxReplicas = "deployment.kubernetes.io/max-replicas"
)

// Condition reasons, as Kubernetes' deployment controller sets them.
const (
	// ReasonNewReplicaSetCreated (Progressing=True): the new ReplicaSet was created.
	ReasonNewReplicaSetCreated = "NewReplicaSetCreated"
	// ReasonFoundNewReplicaSet (Progressing=True): the new ReplicaSet existed already.
	ReasonFoundNewReplicaSet = "FoundNewReplicaSet"
	// ReasonReplicaSetUpdated (Progressing=True): the rollout made progress.
	ReasonReplicaSetUpdated = "ReplicaSetUpdated"
	// ReasonNewReplicaSetAvailable (Progressing=True): the rollout is complete.
	ReasonNewReplicaSetAvailable = "NewReplicaSetAvailable"
	// ReasonProgressDeadlineExceeded (Progressing=False): no progress for progressDeadlineSeconds.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonFailedReplicaSetCreate (Progressing=False): the new ReplicaSet could not be created.
	ReasonFailedReplicaSetCreate = "ReplicaSetCreateError"
	// ReasonDeploymentPaused (Progressing=Unknown): spec.paused was set.
	ReasonDeploymentPaused = "DeploymentPaused"
	// ReasonDeploymentResumed (Progressing=Unknown): spec.paused was cleared.
	ReasonDeploymentResumed = "DeploymentResumed"
	// ReasonMinimumReplicasAvailable (Available=True): at least replicas-maxUnavailable are available.
	ReasonMinimumReplicasAvailable = "MinimumReplicasAvailable"
	// ReasonMinimumReplicasUnavailable (Available=False): fewer than replicas-maxUnavailable are available.
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	// ReasonFailedCreate is the ReplicaSet controller's ReplicaFailure reason
	// when it cannot create pods; the Deployment's ReplicaFailure copies it.
	ReasonFailedCreate = "FailedCreate"
)

// Defaults of apps/v1 for fields a Deployment may leave unset.
const (
	defaultRevisionHistoryLimit = 10
	maxRevisionHistoryChars     = 2000
)

// annotationsNotCopied are Deployment annotations that never go onto its
// ReplicaSets: the controller's own bookkeeping and bosun's Git provenance.
var annotationsNotCopied = []string{
	AnnotationRevision,
	AnnotationRevisionHistory,
	AnnotationDesiredReplicas,
	AnnotationMaxReplicas,
	"kubectl.kubernetes.io/last-applied-configuration",
	"deprecated.deployment.rollback.to",
}

// annotationPrefixesNotCopied are annotation prefixes kept off ReplicaSets.
var annotationPrefixesNotCopied = []string{"bosun.dev/"}

// ComputeHash returns the pod-template-hash of template: FNV-32a over the
// template's JSON encoding (deterministic: struct fields in declaration order,
// map keys sorted), followed by collisionCount as 8 little-endian bytes when it
// is set, rendered with rand.SafeEncodeString. The same template and count give
// the same hash in every process and run.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	data, err := json.Marshal(template)
	if err != nil {
		// A PodTemplateSpec always encodes (it came from JSON); fall back to a
		// readable dump so the hash stays a function of the template.
		data = []byte(fmt.Sprintf("%#v", template))
	}
	_, _ = h.Write(data)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		_, _ = h.Write(b)
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// equalIgnoreHash reports whether two pod templates are equal apart from the
// pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	ac, bc := a.DeepCopy(), b.DeepCopy()
	delete(ac.Labels, LabelPodTemplateHash)
	delete(bc.Labels, LabelPodTemplateHash)
	if len(ac.Labels) == 0 {
		ac.Labels = nil
	}
	if len(bc.Labels) == 0 {
		bc.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(ac, bc)
}

// replicas returns *p, or def when p is nil.
func replicas(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// desiredReplicas is the Deployment's spec.replicas (1 when unset).
func desiredReplicas(d *appsv1.Deployment) int32 { return replicas(d.Spec.Replicas, 1) }

// rsReplicas is a ReplicaSet's spec.replicas (1 when unset).
func rsReplicas(rs *appsv1.ReplicaSet) int32 { return replicas(rs.Spec.Replicas, 1) }

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

// resolveFenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against desired; both zero means maxUnavailable 1, as Kubernetes does.
func resolveFenceposts(d *appsv1.Deployment) (surge, unavailable int32, err error) {
	def := intstr.FromString("25%")
	ms, mu := &def, &def
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			ms = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			mu = ru.MaxUnavailable
		}
	}
	desired := int(desiredReplicas(d))
	s, err := intstr.GetScaledValueFromIntOrPercent(ms, desired, true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(mu, desired, false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u), nil
}

// maxSurge is the resolved maxSurge of a RollingUpdate Deployment (0 for Recreate).
func maxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, _, _ := resolveFenceposts(d) // validated in Reconcile
	return s
}

// maxUnavailable is the resolved maxUnavailable, capped at spec.replicas (0 for
// Recreate and for zero replicas).
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || desiredReplicas(d) == 0 {
		return 0
	}
	_, u, _ := resolveFenceposts(d)
	return min(u, desiredReplicas(d))
}

// revision parses an object's revision annotation; missing or malformed is 0.
func revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[AnnotationRevision], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// sumReplicas adds up count over the ReplicaSets of rss; nil entries are
// skipped.
func sumReplicas(rss []*appsv1.ReplicaSet, count func(*appsv1.ReplicaSet) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += count(rs)
		}
	}
	return n
}

func sumSpecReplicas(rss []*appsv1.ReplicaSet) int32 { return sumReplicas(rss, rsReplicas) }

func sumStatusReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.Status.Replicas })
}

func sumReadyReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.Status.ReadyReplicas })
}

func sumAvailableReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sumReplicas(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.Status.AvailableReplicas })
}

// activeReplicaSets returns the non-nil ReplicaSets with spec.replicas > 0.
func activeReplicaSets(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// sortByCreation sorts oldest first; ties by name.
func sortByCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if a.Equal(&b) {
			return rss[i].Name < rss[j].Name
		}
		return a.Before(&b)
	})
}

// sortByRevision sorts lowest revision first; ties oldest first.
func sortByRevision(rss []*appsv1.ReplicaSet) {
	sortByCreation(rss)
	sort.SliceStable(rss, func(i, j int) bool { return revision(rss[i]) < revision(rss[j]) })
}

// sortBySizeNewer sorts largest first; ties newest first.
func sortBySizeNewer(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		if a, b := rsReplicas(rss[i]), rsReplicas(rss[j]); a != b {
			return a > b
		}
		a, b := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if a.Equal(&b) {
			return rss[i].Name > rss[j].Name
		}
		return b.Before(&a)
	})
}

// sortBySizeOlder sorts largest first; ties oldest first.
func sortBySizeOlder(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		if a, b := rsReplicas(rss[i]), rsReplicas(rss[j]); a != b {
			return a > b
		}
		a, b := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if a.Equal(&b) {
			return rss[i].Name < rss[j].Name
		}
		return a.Before(&b)
	})
}

// Conditions.

func getCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func newCondition(now time.Time, t appsv1.DeploymentConditionType, s corev1.ConditionStatus, reason, msg string) appsv1.DeploymentCondition {
	ts := metav1.NewTime(now).Rfc3339Copy()
	return appsv1.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: ts, LastTransitionTime: ts}
}

// setCondition sets c in st unless a condition of its type with the same status
// and reason is there already; lastTransitionTime is kept when only the reason
// changes.
func setCondition(st *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(st, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(st, c.Type)
	st.Conditions = append(st.Conditions, c)
}

func removeCondition(st *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var out []appsv1.DeploymentCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// hasProgressDeadline says whether progressDeadlineSeconds is in force (unset
// means the apps/v1 default of 600 s; MaxInt32 means none).
func hasProgressDeadline(d *appsv1.Deployment) bool {
	return progressDeadline(d) != math.MaxInt32
}

func progressDeadline(d *appsv1.Deployment) int32 {
	return replicas(d.Spec.ProgressDeadlineSeconds, 600)
}

// deploymentComplete says whether every replica is updated and available and
// the status describes the current generation.
func deploymentComplete(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	n := desiredReplicas(d)
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n &&
		st.ObservedGeneration >= d.Generation
}

// deploymentProgressing says whether st shows progress over d's recorded status.
func deploymentProgressing(d *appsv1.Deployment, st *appsv1.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut says whether the Progressing condition in st is older than
// the progress deadline at now.
func deploymentTimedOut(d *appsv1.Deployment, st *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(st, appsv1.DeploymentProgressing)
	if c == nil {
		return false
	}
	switch c.Reason {
	case ReasonNewReplicaSetAvailable:
		return false
	case ReasonProgressDeadlineExceeded:
		return true
	}
	deadline := c.LastUpdateTime.Add(time.Duration(progressDeadline(d)) * time.Second)
	return deadline.Before(now)
}

// Annotations.

// setReplicasAnnotations records desired and max replicas on rs; it reports
// whether anything changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range map[string]string{
		AnnotationDesiredReplicas: strconv.Itoa(int(desired)),
		AnnotationMaxReplicas:     strconv.Itoa(int(maxReplicas)),
	} {
		if rs.Annotations[k] != v {
			rs.Annotations[k] = v
			changed = true
		}
	}
	return changed
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[AnnotationDesiredReplicas] != strconv.Itoa(int(desired)) ||
		rs.Annotations[AnnotationMaxReplicas] != strconv.Itoa(int(maxReplicas))
}

func int32Annotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

func skipAnnotation(k string) bool {
	for _, s := range annotationsNotCopied {
		if k == s {
			return true
		}
	}
	for _, p := range annotationPrefixesNotCopied {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// copyDeploymentAnnotations copies d's annotations (but the skipped ones) onto
// rs; it reports whether rs changed.
func copyDeploymentAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipAnnotation(k) {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setNewReplicaSetAnnotations brings the annotations of the new ReplicaSet up
// to date: copied Deployment annotations, the revision (raised to newRevision,
// remembering the earlier one in the revision history when a ReplicaSet is
// reused) and, for a ReplicaSet about to be created, the replica annotations.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := copyDeploymentAnnotations(d, rs)
	oldStr := rs.Annotations[AnnotationRevision]
	old, err := strconv.ParseInt(oldStr, 10, 64)
	if err != nil {
		if oldStr != "" {
			return changed // a revision someone else wrote: leave it alone
		}
		old = 0
	}
	if old < newRevision {
		rs.Annotations[AnnotationRevision] = strconv.FormatInt(newRevision, 10)
		changed = true
		if oldStr != "" {
			hist := rs.Annotations[AnnotationRevisionHistory]
			if hist == "" {
				hist = oldStr
			} else {
				hist += "," + oldStr
				for len(hist) > maxRevisionHistoryChars {
					_, rest, ok := strings.Cut(hist, ",")
					if !ok {
						break
					}
					hist = rest
				}
			}
			rs.Annotations[AnnotationRevisionHistory] = hist
		}
	}
	if !exists && setReplicasAnnotations(rs, desiredReplicas(d), desiredReplicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// isSaturated says whether rs runs exactly the Deployment's replicas, all available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := int32Annotation(rs, AnnotationDesiredReplicas)
	n := desiredReplicas(d)
	return ok && desired == n && rsReplicas(rs) == n && rs.Status.AvailableReplicas == n
}

// roundToInt32 rounds half away from zero.
func roundToInt32(f float64) int32 {
	return int32(math.Round(f))
}

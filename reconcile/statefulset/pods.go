package statefulset

import (
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Labels the controller puts on its pods, as Kubernetes.
const (
	LabelPodName      = appsv1.StatefulSetPodNameLabel        // statefulset.kubernetes.io/pod-name
	LabelPodIndex     = appsv1.PodIndexLabel                  // apps.kubernetes.io/pod-index
	LabelRevisionHash = appsv1.ControllerRevisionHashLabelKey // controller-revision-hash
)

// labelsMatcher is a label selector (labels.Selector is one).
type labelsMatcher interface{ Matches(labels.Labels) bool }

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

// parentAndOrdinal splits a pod name "<set>-<ordinal>"; "" and -1 when it has
// no ordinal.
func parentAndOrdinal(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != name[i+1:] {
		return "", -1
	}
	return name[:i], n
}

// ordinalOf returns pod's ordinal, -1 when its name has none.
func ordinalOf(pod *corev1.Pod) int {
	_, n := parentAndOrdinal(pod.Name)
	return n
}

// isMemberOf says whether pod's name makes it one of set's pods.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(pod.Name)
	return parent == set.Name
}

// podName is the name of set's pod with ordinal.
func podName(set *appsv1.StatefulSet, ordinal int) string {
	return set.Name + "-" + strconv.Itoa(ordinal)
}

// replicas is spec.replicas, 1 when unset.
func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// startOrdinal is spec.ordinals.start, 0 when unset.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals == nil {
		return 0
	}
	return int(set.Spec.Ordinals.Start)
}

// inRange says whether ordinal is one set wants now.
func inRange(set *appsv1.StatefulSet, ordinal int) bool {
	start := startOrdinal(set)
	return ordinal >= start && ordinal < start+replicas(set)
}

// newPod returns set's pod with ordinal built from template at revision.
func newPod(set *appsv1.StatefulSet, template *corev1.PodTemplateSpec, revision string, ordinal int) *corev1.Pod {
	name := podName(set, ordinal)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       set.Namespace,
			Name:            name,
			Labels:          maps.Clone(template.Labels),
			Annotations:     maps.Clone(template.Annotations),
			OwnerReferences: []metav1.OwnerReference{controllerRef(set)},
		},
		Spec:   *template.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[LabelPodName] = name
	pod.Labels[LabelPodIndex] = strconv.Itoa(ordinal)
	pod.Labels[LabelRevisionHash] = revision
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	setClaimVolumes(set, pod, ordinal)
	return pod
}

// setClaimVolumes makes each volumeClaimTemplate a persistentVolumeClaim
// volume of pod (replacing a template volume of the same name).
func setClaimVolumes(set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) {
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := set.Spec.VolumeClaimTemplates[i].Name
		vol := corev1.Volume{Name: tmpl, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(set, tmpl, ordinal)}}}
		replaced := false
		for j := range pod.Spec.Volumes {
			if pod.Spec.Volumes[j].Name == tmpl {
				pod.Spec.Volumes[j] = vol
				replaced = true
			}
		}
		if !replaced {
			pod.Spec.Volumes = append(pod.Spec.Volumes, vol)
		}
	}
}

// isTerminating says whether pod is being deleted.
func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// isTerminal says whether pod's containers all ended for good.
func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

// readySince returns when pod became Ready, and whether it is Running and
// Ready now.
func readySince(pod *corev1.Pod) (time.Time, bool) {
	if pod.Status.Phase != corev1.PodRunning {
		return time.Time{}, false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time, c.Status == corev1.ConditionTrue
		}
	}
	return time.Time{}, false
}

// isRunningAndReady says whether pod is Running and Ready.
func isRunningAndReady(pod *corev1.Pod) bool {
	_, ok := readySince(pod)
	return ok
}

// availableIn returns 0 when pod has been Running and Ready for
// minReadySeconds at now, else how long until it will have been (or a
// negative value when it is not ready at all).
func availableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	since, ok := readySince(pod)
	if !ok {
		return -1
	}
	if minReadySeconds <= 0 {
		return 0
	}
	left := since.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
	return max(left, 0)
}

// revisionOf is the revision label of pod.
func revisionOf(pod *corev1.Pod) string { return pod.Labels[LabelRevisionHash] }

package quota

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Resource names a quota counts beyond those corev1 names.
const (
	// CountPods is the object count of pods: every stored pod, whatever its
	// phase, as Kubernetes counts count/pods.
	CountPods corev1.ResourceName = "count/pods"
	// ServicesLoadBalancers counts Services of type LoadBalancer.
	ServicesLoadBalancers corev1.ResourceName = corev1.ResourceServicesLoadBalancers
	// storageClassSuffix ends the per-class PVC names:
	// "<class>.storageclass.storage.k8s.io/requests.storage".
	storageClassSuffix = ".storageclass.storage.k8s.io/"
)

// computeResources are the resource names whose usage comes from a pod's
// requests and limits; with "pods" they are what a scoped quota may limit.
var computeResources = map[corev1.ResourceName]bool{
	corev1.ResourcePods: true, CountPods: true,
	corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true, corev1.ResourceLimitsEphemeralStorage: true,
}

// constrainedResources are the compute resources every container must set
// when a quota limits them (Kubernetes' backward-compatible rule).
var constrainedResources = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
}

// isPodResource reports whether a quota's resource name is counted from pods.
func isPodResource(name corev1.ResourceName) bool {
	if computeResources[name] {
		return true
	}
	s := string(name)
	if name == corev1.ResourceRequestsStorage || strings.Contains(s, storageClassSuffix) {
		return false // persistent volume claims
	}
	return strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix) ||
		strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix) ||
		strings.HasPrefix(s, "limits.")
}

// PodCounted reports whether pod's compute resources (and "pods") count
// against quota at now, as Kubernetes' QuotaV1Pod: not once the pod has
// succeeded or failed, nor when it has been terminating longer than its
// deletion grace period past its deletionTimestamp (a pod stuck on a lost
// node does not hold its namespace's quota forever). A terminating pod
// within that time still counts, as in Kubernetes: its containers still run.
func PodCounted(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// uncountedAt returns when a counted, terminating pod stops counting, and
// false when nothing but a change of the pod will make it stop.
func uncountedAt(pod *corev1.Pod) (time.Time, bool) {
	if pod.DeletionTimestamp == nil || pod.DeletionGracePeriodSeconds == nil {
		return time.Time{}, false
	}
	return pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds)*time.Second + time.Second), true
}

// PodUsage returns what pod uses of a quota at now: count/pods always; when
// PodCounted also "pods" and its requests and limits (Kubernetes' pod
// requests: the sum of the app and sidecar containers, or the largest init
// container if more, plus overhead) under cpu, requests.cpu, limits.cpu, and
// the same for memory, ephemeral-storage, hugepages and extended resources.
func PodUsage(pod *corev1.Pod, now time.Time) corev1.ResourceList {
	usage := corev1.ResourceList{CountPods: *resource.NewQuantity(1, resource.DecimalSI)}
	if !PodCounted(pod, now) {
		return usage
	}
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	return add(usage, computeUsage(requests, limits))
}

// computeUsage maps requests and limits onto quota resource names; the
// result always holds "pods" = 1.
func computeUsage(requests, limits corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(1, resource.DecimalSI)}
	for name, q := range requests {
		switch {
		case name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage:
			out[name] = q.DeepCopy()
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		case strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			out[name] = q.DeepCopy()
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		case strings.Contains(string(name), "/"): // extended resources
			out[corev1.DefaultResourceRequestsPrefix+name] = q.DeepCopy()
		}
	}
	for name, q := range limits {
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage {
			out["limits."+name] = q.DeepCopy()
		}
	}
	return out
}

// add returns a + b.
func add(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range a {
		out[k] = v.DeepCopy()
	}
	for k, v := range b {
		q := out[k]
		q.Add(v)
		out[k] = q
	}
	return out
}

// addInto adds to sum the entries of list named in names.
func addInto(sum, list corev1.ResourceList, names []corev1.ResourceName) {
	for _, n := range names {
		if v, ok := list[n]; ok {
			q := sum[n]
			q.Add(v)
			sum[n] = q
		}
	}
}

// mask returns the entries of list named in names.
func mask(list corev1.ResourceList, names []corev1.ResourceName) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, n := range names {
		if v, ok := list[n]; ok {
			out[n] = v.DeepCopy()
		}
	}
	return out
}

// names returns list's resource names, sorted.
func names(list corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(list))
	for n := range list {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// zeroFilled returns used with a zero for every resource of hard it lacks,
// restricted to hard's resources: a quota's status.used.
func zeroFilled(used, hard corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for n := range hard {
		if v, ok := used[n]; ok {
			out[n] = v.DeepCopy()
		} else {
			out[n] = *resource.NewQuantity(0, resource.DecimalSI)
		}
	}
	return out
}

// exceeded returns the resources of used that are above hard.
func exceeded(used, hard corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names(used) {
		u := used[n]
		if h, ok := hard[n]; ok && u.Cmp(h) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// equal reports whether a and b hold the same quantities.
func equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

// prettyPrint formats list as kube-apiserver's quota messages do:
// "cpu=500m,memory=1Gi", sorted by name.
func prettyPrint(list corev1.ResourceList) string {
	parts := make([]string, 0, len(list))
	for _, n := range names(list) {
		q := list[n]
		parts = append(parts, string(n)+"="+q.String())
	}
	return strings.Join(parts, ",")
}

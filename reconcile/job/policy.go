package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// matchFailurePolicy returns the action of the first rule of policy that
// matches the failed pod, with Kubernetes' message for it; "" (count the
// failure) when policy is nil or no rule matches.
func matchFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) (batchv1.PodFailurePolicyAction, string) {
	if policy == nil {
		return "", ""
	}
	for i, rule := range policy.Rules {
		if rule.OnExitCodes != nil {
			if cs := matchExitCodes(rule.OnExitCodes, pod); cs != nil {
				return rule.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s",
					cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, describeRule(rule.Action, i))
			}
		}
		for _, pattern := range rule.OnPodConditions {
			if cond := matchCondition(pattern, pod); cond != nil {
				return rule.Action, fmt.Sprintf("Pod %s/%s has condition %s matching %s",
					pod.Namespace, pod.Name, cond.Type, describeRule(rule.Action, i))
			}
		}
	}
	return "", ""
}

// matchExitCodes returns the first container of pod (init containers too)
// that terminated with a non-zero code the requirement matches, or nil.
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, pod *corev1.Pod) *corev1.ContainerStatus {
	for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		in := slices.Contains(req.Values, t.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			return &cs
		}
	}
	return nil
}

// matchCondition returns the pod's condition the pattern matches (its type,
// with the pattern's status, True by default), or nil.
func matchCondition(pattern batchv1.PodFailurePolicyOnPodConditionsPattern, pod *corev1.Pod) *corev1.PodCondition {
	want := pattern.Status
	if want == "" {
		want = corev1.ConditionTrue
	}
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type == pattern.Type && c.Status == want {
			return c
		}
	}
	return nil
}

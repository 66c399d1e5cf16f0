package nodeagent

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

func terminated(c *runtime.Container, runtimeName string) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      c.Reason,
		Message:     c.Message,
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: runtimeName + "://" + c.ID,
	}
}

// podStatus computes the pod's status from the runtime's state, as kubelet
// writes it; times that did not change keep their old values.
func (s *podSyncer) podStatus(pod *corev1.Pod, sb *runtime.Sandbox, cs []runtime.Container, waiting map[string]waitingState) corev1.PodStatus {
	now := metav1.NewTime(s.clk.Now())
	old := pod.Status
	st := corev1.PodStatus{
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
		StartTime:         old.StartTime,
		PodIP:             old.PodIP,
		PodIPs:            old.PodIPs,
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if s.hostIP != "" {
		st.HostIP, st.HostIPs = s.hostIP, []corev1.HostIP{{IP: s.hostIP}}
	}
	if sb != nil && sb.IP != "" {
		st.PodIP, st.PodIPs = sb.IP, []corev1.PodIP{{IP: sb.IP}}
	}

	initialized := podInitialized(pod, cs)
	ip := sandboxIP(sb)
	var unready, incomplete []string
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		cst := s.containerStatus(pod, ip, spec, cs, waiting, initialized)
		switch {
		case isSidecar(spec):
			if cst.Started == nil || !*cst.Started {
				incomplete = append(incomplete, spec.Name)
			}
			if !cst.Ready {
				unready = append(unready, spec.Name)
			}
		case cst.State.Terminated != nil && cst.State.Terminated.ExitCode == 0:
		default:
			if !initialized {
				incomplete = append(incomplete, spec.Name)
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cst)
	}
	if initialized {
		incomplete = nil
	}
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		cst := s.containerStatus(pod, ip, spec, cs, waiting, initialized)
		if !cst.Ready {
			unready = append(unready, spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cst)
	}
	st.Phase = podPhaseInit(pod, st.InitContainerStatuses, st.ContainerStatuses, initialized)

	ready := corev1.ConditionTrue
	reason, msg := "", ""
	if len(unready) > 0 {
		ready, reason, msg = corev1.ConditionFalse, "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		ready, reason, msg = corev1.ConditionFalse, "PodCompleted", ""
	}
	cond := func(t corev1.PodConditionType, s corev1.ConditionStatus, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	initStatus, initReason, initMsg := corev1.ConditionTrue, "", ""
	switch {
	case st.Phase == corev1.PodSucceeded && len(incomplete) == 0:
		initReason = "PodCompleted"
	case len(incomplete) > 0:
		initStatus, initReason = corev1.ConditionFalse, "ContainersNotInitialized"
		initMsg = fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodInitialized, initStatus, initReason, initMsg),
		cond(corev1.PodReady, ready, reason, msg),
		cond(corev1.ContainersReady, ready, reason, msg),
	}
	scheduled := false
	for _, o := range old.Conditions {
		switch o.Type {
		case corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady:
		default:
			scheduled = scheduled || o.Type == corev1.PodScheduled
			st.Conditions = append(st.Conditions, o) // the scheduler's and others'
		}
	}
	if !scheduled {
		st.Conditions = append(st.Conditions, cond(corev1.PodScheduled, corev1.ConditionTrue, "", ""))
	}
	return st
}

// containerStatus is the status of the container (or init container)
// spec from the runtime's containers cs; one not created yet waits with
// reason ContainerCreating, or PodInitializing while the pod is not
// initialized, as kubelet reports them.
func (s *podSyncer) containerStatus(pod *corev1.Pod, ip string, spec *corev1.Container, cs []runtime.Container,
	waiting map[string]waitingState, initialized bool) corev1.ContainerStatus {
	rtName := s.runtimeName
	latest, prev, _ := latestTwo(cs, spec.Name)
	cst := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: new(false)}
	w, isWaiting := waiting[spec.Name]
	if latest == nil {
		if !isWaiting {
			w = waitingState{reason: "ContainerCreating"}
			if !initialized {
				w = waitingState{reason: "PodInitializing"}
			}
		}
		cst.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
		return cst
	}
	cst.RestartCount = int32(latest.Metadata.Attempt)
	cst.ContainerID = rtName + "://" + latest.ID
	cst.ImageID = latest.ImageRef
	if prev != nil {
		cst.LastTerminationState.Terminated = terminated(prev, rtName)
	}
	switch latest.State {
	case runtime.ContainerRunning:
		res := s.prober.Probe(pod, ip, spec, *latest)
		cst.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
		cst.Ready, cst.Started = res.Ready && res.Started, new(res.Started)
	case runtime.ContainerCreated:
		cst.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	default:
		if isWaiting {
			cst.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
			cst.LastTerminationState = corev1.ContainerState{Terminated: terminated(latest, rtName)}
		} else {
			cst.State.Terminated = terminated(latest, rtName)
		}
	}
	return cst
}

// podPhaseInit is kubelet's phase of a pod with init containers: Failed
// when a regular init container failed and the pod's restartPolicy is
// Never, Pending until the pod is initialized, then the app containers'
// phase (sidecars do not count).
func podPhaseInit(pod *corev1.Pod, inits, apps []corev1.ContainerStatus, initialized bool) corev1.PodPhase {
	for i, st := range inits {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			continue
		}
		failed := (st.State.Terminated != nil && st.State.Terminated.ExitCode != 0) ||
			(st.State.Waiting != nil && st.LastTerminationState.Terminated != nil && st.LastTerminationState.Terminated.ExitCode != 0)
		if failed && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
	}
	if !initialized {
		return corev1.PodPending
	}
	return podPhase(pod.Spec.RestartPolicy, apps)
}

// podPhase is kubelet's phase of a pod from its app containers.
func podPhase(policy corev1.RestartPolicy, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var waiting, running, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case policy == corev1.RestartPolicyAlways || policy == "":
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		default:
			return corev1.PodRunning
		}
	}
	return corev1.PodPending
}

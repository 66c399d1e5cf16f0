package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
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
func (a *Agent) podStatus(pod *corev1.Pod, sb *runtime.Sandbox, cs []runtime.Container, waiting map[string]waitingState) corev1.PodStatus {
	a.mu.Lock()
	rtName := a.runtimeName
	a.mu.Unlock()
	now := metav1.NewTime(a.clk.Now())
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
	if a.hostIP != "" {
		st.HostIP, st.HostIPs = a.hostIP, []corev1.HostIP{{IP: a.hostIP}}
	}
	if sb != nil && sb.IP != "" {
		st.PodIP, st.PodIPs = sb.IP, []corev1.PodIP{{IP: sb.IP}}
	}

	var unready []string
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		latest, prev, _ := latestTwo(cs, spec.Name)
		s := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: new(false)}
		w, isWaiting := waiting[spec.Name]
		switch {
		case latest == nil:
			if !isWaiting {
				w = waitingState{reason: "ContainerCreating"}
			}
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
		default:
			s.RestartCount = int32(latest.Metadata.Attempt)
			s.ContainerID = rtName + "://" + latest.ID
			s.ImageID = latest.ImageRef
			if prev != nil {
				s.LastTerminationState.Terminated = terminated(prev, rtName)
			}
			switch latest.State {
			case runtime.ContainerRunning:
				ip := ""
				if sb != nil {
					ip = sb.IP
				}
				res := a.prober.Probe(pod, ip, spec, *latest)
				s.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
				s.Ready, s.Started = res.Ready && res.Started, new(res.Started)
			case runtime.ContainerCreated:
				s.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			default:
				if isWaiting {
					s.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
					s.LastTerminationState = corev1.ContainerState{Terminated: terminated(latest, rtName)}
				} else {
					s.State.Terminated = terminated(latest, rtName)
				}
			}
		}
		if !s.Ready {
			unready = append(unready, spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, s)
	}
	st.Phase = podPhase(pod.Spec.RestartPolicy, st.ContainerStatuses)

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
	initReason := ""
	if st.Phase == corev1.PodSucceeded {
		initReason = "PodCompleted"
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodInitialized, corev1.ConditionTrue, initReason, ""),
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

// podPhase is kubelet's phase of a pod without init containers.
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

func sameJSON(a, b any) bool {
	x, errX := json.Marshal(a)
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

// writeStatus writes status through the status subresource when it differs
// from the pod's, and returns the pod as stored.
func (a *Agent) writeStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	for try := 0; ; try++ {
		if sameJSON(pod.Status, status) {
			return pod, nil
		}
		out := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion},
			Status:     status,
		}
		err := a.c.UpdateStatus(ctx, podsResource, out)
		if err == nil {
			a.storeReturned(out)
			return out, nil
		}
		if !client.IsConflict(err) || try > 0 {
			if client.IsNotFound(err) {
				return pod, nil // deleted meanwhile: the watch says so
			}
			return pod, fmt.Errorf("nodeagent: pod %s: write status: %w", podRef(pod), err)
		}
		fresh, err := a.c.Get(ctx, podsResource, pod.Namespace, pod.Name)
		if err != nil {
			if client.IsNotFound(err) {
				return pod, nil
			}
			return pod, fmt.Errorf("nodeagent: pod %s: read after a conflict: %w", podRef(pod), err)
		}
		fp, ok := fresh.(*corev1.Pod)
		if !ok || fp.UID != pod.UID {
			return pod, nil // replaced by a pod of the same name
		}
		a.storeReturned(fp)
		// Keep the transition times and start time the fresh status has.
		pod = fp
		status = mergeTimes(status, fp.Status)
	}
}

// mergeTimes keeps old transition and start times where the condition did not change.
func mergeTimes(st, old corev1.PodStatus) corev1.PodStatus {
	if old.StartTime != nil {
		st.StartTime = old.StartTime
	}
	for i := range st.Conditions {
		for _, o := range old.Conditions {
			if o.Type == st.Conditions[i].Type && o.Status == st.Conditions[i].Status {
				st.Conditions[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return st
}

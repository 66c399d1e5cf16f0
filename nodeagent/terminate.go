package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/nodeagent/podworkers"
	"github.com/bosun-dev/bosun/nodeagent/probe"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// minGracePeriod is what a container gets at least between SIGTERM and
// SIGKILL once its preStop hook used up the grace period (kubelet's
// minimumGracePeriodInSeconds).
const minGracePeriod = 2 * time.Second

// Reasons of the agent's Events about lifecycle hooks, as the kubelet's.
const (
	ReasonFailedPreStopHook   = "FailedPreStopHook"
	ReasonFailedPostStartHook = "FailedPostStartHook"
)

// deletionGrace is the grace period of a pod being deleted: its
// deletionGracePeriodSeconds, else its spec's.
func deletionGrace(pod *corev1.Pod) time.Duration {
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return gracePeriod(pod)
}

// terminatePod ends a pod the API is deleting (it has a
// deletionTimestamp), as kubelet's terminating pod worker does: preStop
// hooks, SIGTERM, SIGKILL once deletionGracePeriodSeconds (counted from
// now) ran out, app containers first and sidecars after them; then the
// last status, with the containers' exit codes, is written and the pod
// is deleted through the API with grace period 0 and its UID as
// precondition. The pod's sync gives back its worker slot while it
// waits. Once the API has removed the pod, syncGone cleans up.
func (s *podSyncer) terminatePod(ctx context.Context, pod *corev1.Pod) error {
	podworkers.ReleaseSlot(ctx)
	uid := string(pod.UID)
	sbs, err := s.rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list sandboxes: %w", podRef(pod), err)
	}
	var sb *runtime.Sandbox
	for i := range sbs {
		sb = &sbs[i] // the newest
	}
	cs, err := s.rt.ListContainers(ctx, runtime.ContainerFilter{PodUID: uid})
	if err != nil {
		return fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
	}
	if err := s.killContainers(ctx, pod, sandboxIP(sb), cs, deletionGrace(pod)); err != nil {
		return err
	}
	var final []runtime.Container
	if sb != nil {
		if final, err = s.rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID}); err != nil {
			return fmt.Errorf("nodeagent: pod %s: list containers: %w", podRef(pod), err)
		}
		if err := s.rt.StopPodSandbox(ctx, sb.ID); err != nil {
			return fmt.Errorf("nodeagent: pod %s: stop sandbox: %w", podRef(pod), err)
		}
	}
	if s.probes != nil {
		s.probes.ForgetPod(uid)
	}
	view := pod
	if st, ok := s.status.Pending(pod.UID); ok {
		cp := *pod
		cp.Status = st
		view = &cp
	}
	st := s.podStatus(view, sb, final, map[string]waitingState{})
	st.Phase = terminatedPhase(st)
	if _, err := s.status.WriteNow(ctx, pod, st); err != nil {
		return fmt.Errorf("nodeagent: pod %s: %w", podRef(pod), err)
	}
	return s.deletePod(ctx, pod)
}

// terminatedPhase is the phase of a pod whose containers were all
// stopped because it is deleted: Succeeded when every app container
// exited 0, else Failed (kubelet's phase of a terminal pod).
func terminatedPhase(st corev1.PodStatus) corev1.PodPhase {
	if p := podPhase(corev1.RestartPolicyNever, st.ContainerStatuses); terminal(p) {
		return p
	}
	return corev1.PodFailed
}

// deletePod removes the pod from the API once it stopped: grace period 0,
// on the condition that it is still the pod of this UID.
func (s *podSyncer) deletePod(ctx context.Context, pod *corev1.Pod) error {
	zero, uid := int64(0), pod.UID
	err := s.c.DeleteWithOptions(ctx, podsResource, pod.Namespace, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case err == nil:
		s.log.Info("pod terminated and deleted", "pod", podRef(pod), "podUID", uid)
		return nil
	case client.IsNotFound(err), client.IsConflict(err): // gone already, or replaced by a pod of the same name
		return nil
	}
	return fmt.Errorf("nodeagent: pod %s: delete it after it terminated: %w", podRef(pod), err)
}

func sandboxIP(sb *runtime.Sandbox) string {
	if sb == nil {
		return ""
	}
	return sb.IP
}

// killContainers stops the running containers of cs within grace: app
// containers (and containers the spec no longer names) together, then the
// sidecars (init containers with restartPolicy Always) one by one in
// reverse order, as kubelet does. Each runs its preStop hook first.
func (s *podSyncer) killContainers(ctx context.Context, pod *corev1.Pod, podIP string, cs []runtime.Container, grace time.Duration) error {
	deadline := s.clk.Now().Add(grace)
	sidecars := map[string]int{} // name -> position among the init containers
	if pod != nil {
		for i := range pod.Spec.InitContainers {
			if isSidecar(&pod.Spec.InitContainers[i]) {
				sidecars[pod.Spec.InitContainers[i].Name] = i
			}
		}
	}
	var app, side []runtime.Container
	for _, c := range cs {
		if c.State != runtime.ContainerRunning {
			continue
		}
		if _, ok := sidecars[c.Metadata.Name]; ok {
			side = append(side, c)
		} else {
			app = append(app, c)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(app))
	for i, c := range app {
		wg.Go(func() { errs[i] = s.killContainer(ctx, pod, podIP, c, deadline) })
	}
	wg.Wait()
	slices.SortFunc(side, func(a, b runtime.Container) int { return sidecars[b.Metadata.Name] - sidecars[a.Metadata.Name] })
	for _, c := range side {
		errs = append(errs, s.killContainer(ctx, pod, podIP, c, deadline))
	}
	return errors.Join(errs...)
}

// containerSpec returns the spec of the container or init container name.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// killContainer runs c's preStop hook (for at most until deadline on the
// agent's clock), then stops it: SIGTERM, and SIGKILL once what is left
// until deadline (at least minGracePeriod) has passed.
func (s *podSyncer) killContainer(ctx context.Context, pod *corev1.Pod, podIP string, c runtime.Container, deadline time.Time) error {
	spec := containerSpec(pod, c.Metadata.Name)
	if spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil {
		if err := s.runHook(ctx, pod, podIP, spec, c, spec.Lifecycle.PreStop, deadline); err != nil {
			s.log.Warn("preStop hook failed; stopping the container anyway", "pod", podRef(pod), "container", spec.Name, "error", err)
			s.rec.Eventf(events.ContainerRef(pod, spec.Name), corev1.EventTypeWarning, ReasonFailedPreStopHook,
				"PreStopHook failed: %v", err)
		}
	}
	if pod != nil {
		s.rec.Eventf(events.ContainerRef(pod, c.Metadata.Name), corev1.EventTypeNormal, ReasonKilling,
			"Stopping container %s", c.Metadata.Name)
	}
	timeout := max(deadline.Sub(s.clk.Now()), minGracePeriod)
	if err := s.rt.StopContainer(ctx, c.ID, timeout); err != nil {
		return fmt.Errorf("nodeagent: pod %s: stop container %s: %w", c.PodUID, c.Metadata.Name, err)
	}
	return nil
}

// runHook runs a lifecycle hook of container c until it ends, or until
// deadline on the agent's clock (zero: no limit).
func (s *podSyncer) runHook(ctx context.Context, pod *corev1.Pod, podIP string, spec *corev1.Container, c runtime.Container,
	h *corev1.LifecycleHandler, deadline time.Time) error {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !deadline.IsZero() {
		t := s.clk.NewTimer(deadline.Sub(s.clk.Now()))
		defer t.Stop()
		go func() {
			select {
			case <-t.C():
				cancel()
			case <-hctx.Done():
			}
		}()
	}
	target := probe.Target{PodUID: string(pod.UID), PodIP: podIP, ContainerID: c.ID, Container: spec,
		Ref: events.ContainerRef(pod, spec.Name)}
	return s.hooks.RunHook(hctx, h, target, s.clk)
}

package nodeagent

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// isSidecar reports whether an init container is a sidecar: restartPolicy
// Always (Kubernetes 1.29+), started before the next init container and
// kept running next to the app containers.
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// initPolicy is the restart policy of a regular init container: it runs
// again after a failure unless the pod's policy is Never.
func initPolicy(pod *corev1.Pod) corev1.RestartPolicy {
	if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.RestartPolicyNever
	}
	return corev1.RestartPolicyOnFailure
}

// podInitialized reports whether the pod's initialization is over in its
// current sandbox: an app container was created there (as kubelet decides;
// init containers do not run again once it is, even if their containers
// are gone).
func podInitialized(pod *corev1.Pod, cs []runtime.Container) bool {
	if len(pod.Spec.InitContainers) == 0 {
		return true
	}
	for i := range pod.Spec.Containers {
		if latest, _, _ := latestTwo(cs, pod.Spec.Containers[i].Name); latest != nil {
			return true
		}
	}
	return false
}

// syncInitContainers runs the pod's init containers as kubelet does, and
// reports whether the app containers may run. Before the pod is
// initialized they run in order, one at a time: a regular init container
// must exit 0 before the next starts (a failed one runs again after its
// back-off, unless the pod's restartPolicy is Never: the pod fails); a
// sidecar must be running and started (its startupProbe passed) and the
// next one starts while it keeps running. Afterwards only the sidecars are
// kept running (restarted when they exit, their liveness probes checked).
func (s *podSyncer) syncInitContainers(ctx context.Context, pod *corev1.Pod, sb *runtime.Sandbox, cs []runtime.Container,
	waiting map[string]waitingState, setup *podSetup) (bool, time.Duration, error) {
	initialized := podInitialized(pod, cs)
	var requeue time.Duration
	var errs []error
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		latest, _, _ := latestTwo(cs, spec.Name)
		if isSidecar(spec) {
			started := latest != nil && latest.State == runtime.ContainerRunning && s.prober.Probe(pod, sb.IP, spec, *latest).Started
			after, err := s.syncContainer(ctx, pod, sb, spec, corev1.RestartPolicyAlways, cs, waiting, setup)
			requeue = sooner(requeue, after)
			if err != nil {
				errs = append(errs, err)
			}
			if !started && !initialized {
				return false, requeue, errors.Join(errs...)
			}
			continue
		}
		if initialized || (latest != nil && latest.State == runtime.ContainerExited && latest.ExitCode == 0) {
			continue
		}
		after, err := s.syncContainer(ctx, pod, sb, spec, initPolicy(pod), cs, waiting, setup)
		requeue = sooner(requeue, after)
		if err != nil {
			errs = append(errs, err)
		}
		return false, requeue, errors.Join(errs...)
	}
	return true, requeue, errors.Join(errs...)
}

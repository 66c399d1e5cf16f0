package nodeagent

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/nodeagent/probe"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// ProbeResult is what the probes of one running container say.
type ProbeResult struct {
	// Ready drives the container's ready flag (readiness probe).
	Ready bool
	// Started is false while a startup probe has not succeeded yet.
	Started bool
	// Unhealthy asks for a restart (liveness or startup probe failed): the
	// agent stops the container and restarts it per the pod's restartPolicy.
	Unhealthy bool
	// Message says which probe failed, and why.
	Message string
}

// Prober judges running containers. The pod worker consults it on every
// sync; a prober that runs probes in the background keeps their latest
// results and calls Agent.Resync when one changes. It must not block.
type Prober interface {
	// Probe judges container c (spec) of pod, whose IP is podIP.
	Probe(pod *corev1.Pod, podIP string, spec *corev1.Container, c runtime.Container) ProbeResult
}

// RunningIsReady is the Prober of pods without probes: a running container
// is started and ready.
type RunningIsReady struct{}

// Probe reports a running container ready and started.
func (RunningIsReady) Probe(pod *corev1.Pod, podIP string, spec *corev1.Container, c runtime.Container) ProbeResult {
	running := c.State == runtime.ContainerRunning
	return ProbeResult{Ready: running, Started: running}
}

// managerProber is the Prober of Config.RunProbes: package probe's workers.
type managerProber struct{ m *probe.Manager }

func (p managerProber) Probe(pod *corev1.Pod, podIP string, spec *corev1.Container, c runtime.Container) ProbeResult {
	if c.State != runtime.ContainerRunning {
		return ProbeResult{}
	}
	st := p.m.Status(probe.Target{PodUID: string(pod.UID), PodIP: podIP, ContainerID: c.ID, Container: spec, StartedAt: c.StartedAt,
		Ref: events.ContainerRef(pod, spec.Name)})
	return ProbeResult{Ready: st.Ready, Started: st.Started, Unhealthy: st.Unhealthy, Message: st.Message}
}

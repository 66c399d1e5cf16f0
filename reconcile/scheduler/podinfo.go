package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Non-zero defaults kube-scheduler counts, for scoring only, for a container
// without a cpu or memory request.
const (
	// DefaultMilliCPURequest is the cpu (in millicores) a container without a cpu
	// request counts as when nodes are scored: 100m.
	DefaultMilliCPURequest int64 = 100
	// DefaultMemoryRequest is the memory (in bytes) a container without a memory
	// request counts as when nodes are scored: 200Mi.
	DefaultMemoryRequest int64 = 200 * 1024 * 1024
)

// hostPort is one port a pod takes on its node's network: protocol, host IP
// ("" stands for 0.0.0.0, every address) and port.
type hostPort struct {
	protocol corev1.Protocol
	ip       string
	port     int32
}

// conflicts says whether two host ports cannot be on one node: same protocol
// and port, and host IPs that overlap (equal, or one of them every address).
func (p hostPort) conflicts(q hostPort) bool {
	if p.port != q.port || p.protocol != q.protocol {
		return false
	}
	return p.ip == "" || q.ip == "" || p.ip == q.ip
}

// podReq is what the algorithm needs to know of a pod, computed once per pod.
type podReq struct {
	cpu, mem     int64 // requests: millicores, bytes
	nzCPU, nzMem int64 // requests with the non-zero defaults, for scoring
	ports        []hostPort
	owner        types.UID // controller owner, "" for none
}

// podKey is the key pods are accounted under: the UID, or namespace/name for a
// pod without one (only in hand-made test objects).
func podKey(pod *corev1.Pod) types.UID {
	if pod.UID != "" {
		return pod.UID
	}
	return types.UID(pod.Namespace + "/" + pod.Name)
}

// controllerUID returns the UID of the pod's controller owner reference, or "".
func controllerUID(pod *corev1.Pod) types.UID {
	for i := range pod.OwnerReferences {
		if r := &pod.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	return ""
}

// containerRequests returns a container's cpu and memory requests, plain and
// with the non-zero defaults for what is not requested.
func containerRequests(c *corev1.Container) (cpu, mem, nzCPU, nzMem int64) {
	nzCPU, nzMem = DefaultMilliCPURequest, DefaultMemoryRequest
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		cpu = q.MilliValue()
		nzCPU = cpu
	}
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		mem = q.Value()
		nzMem = mem
	}
	return cpu, mem, nzCPU, nzMem
}

// newPodReq computes a pod's requests as Kubernetes does: the sum over its
// containers, at least the largest init container (plus the sidecars started
// before it), sidecar init containers (restartPolicy Always) added to the sum,
// plus the pod overhead; and the host ports of its containers.
func newPodReq(pod *corev1.Pod) podReq {
	var r podReq
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cpu, mem, nzc, nzm := containerRequests(c)
		r.cpu += cpu
		r.mem += mem
		r.nzCPU += nzc
		r.nzMem += nzm
		for j := range c.Ports {
			p := &c.Ports[j]
			if p.HostPort <= 0 {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ip := p.HostIP
			if ip == "0.0.0.0" || ip == "::" {
				ip = ""
			}
			r.ports = append(r.ports, hostPort{protocol: proto, ip: ip, port: p.HostPort})
		}
	}
	var sideCPU, sideMem, sideNZC, sideNZM int64 // sidecars started so far
	var initCPU, initMem, initNZC, initNZM int64 // the largest init-time need
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cpu, mem, nzc, nzm := containerRequests(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			r.cpu += cpu
			r.mem += mem
			r.nzCPU += nzc
			r.nzMem += nzm
			sideCPU += cpu
			sideMem += mem
			sideNZC += nzc
			sideNZM += nzm
			initCPU, initMem = max(initCPU, sideCPU), max(initMem, sideMem)
			initNZC, initNZM = max(initNZC, sideNZC), max(initNZM, sideNZM)
			continue
		}
		initCPU, initMem = max(initCPU, sideCPU+cpu), max(initMem, sideMem+mem)
		initNZC, initNZM = max(initNZC, sideNZC+nzc), max(initNZM, sideNZM+nzm)
	}
	r.cpu, r.mem = max(r.cpu, initCPU), max(r.mem, initMem)
	r.nzCPU, r.nzMem = max(r.nzCPU, initNZC), max(r.nzMem, initNZM)
	if q, ok := pod.Spec.Overhead[corev1.ResourceCPU]; ok {
		r.cpu += q.MilliValue()
		r.nzCPU += q.MilliValue()
	}
	if q, ok := pod.Spec.Overhead[corev1.ResourceMemory]; ok {
		r.mem += q.Value()
		r.nzMem += q.Value()
	}
	r.owner = controllerUID(pod)
	return r
}

// Schedulable says whether the scheduler named "default-scheduler" should place
// pod: it has no node yet, names this scheduler (or none), is not being deleted,
// has not terminated, and has no scheduling gates.
func Schedulable(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
		return false
	}
	if n := pod.Spec.SchedulerName; n != "" && n != corev1.DefaultSchedulerName {
		return false
	}
	if terminal(pod) {
		return false
	}
	return len(pod.Spec.SchedulingGates) == 0
}

// terminal says whether the pod has finished for good (Succeeded or Failed).
func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

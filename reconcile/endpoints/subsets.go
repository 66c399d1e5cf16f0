package endpoints

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// AnnotationTolerateUnready is the legacy annotation that, set to "true" on a
// Service, has the same effect as spec.publishNotReadyAddresses.
const AnnotationTolerateUnready = "service.alpha.kubernetes.io/tolerate-unready-endpoints"

// LabelHeadless is put on the Endpoints of a headless Service (clusterIP None),
// as Kubernetes does.
const LabelHeadless = "service.kubernetes.io/headless"

// selects reports whether a Service's selector matches a pod's labels. A Service
// without selector (nil or empty) selects nothing: its Endpoints are the user's.
func selects(selector, podLabels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := podLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// tolerateUnready reports whether svc publishes pods that are not ready as
// ready addresses.
func tolerateUnready(svc *corev1.Service) bool {
	if svc.Spec.PublishNotReadyAddresses {
		return true
	}
	v, err := strconv.ParseBool(svc.Annotations[AnnotationTolerateUnready])
	return err == nil && v
}

// podReady reports whether the pod's Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// shouldInclude reports whether pod belongs in any address list of a Service, as
// Kubernetes' endpoints controller decides: it must have an IP, must not have
// finished (phase Succeeded or Failed), and must not be terminating unless the
// Service publishes not-ready addresses.
func shouldInclude(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && !includeTerminating {
		return false
	}
	return true
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// findPort resolves a Service port's targetPort for one pod: a number is used as
// it is (0 means the Service port itself), a name is looked up among the pod's
// container ports (regular and restartable init containers) with the same
// protocol. ok is false when the pod has no port of that name.
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	switch tp.Type {
	case intstr.String:
		if tp.StrVal == "" {
			return sp.Port, true
		}
		proto := protocolOf(sp.Protocol)
		for _, c := range pod.Spec.Containers {
			if n, ok := namedPort(c.Ports, tp.StrVal, proto); ok {
				return n, true
			}
		}
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				continue
			}
			if n, ok := namedPort(c.Ports, tp.StrVal, proto); ok {
				return n, true
			}
		}
		return 0, false
	default:
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
}

func namedPort(ports []corev1.ContainerPort, name string, proto corev1.Protocol) (int32, bool) {
	for _, p := range ports {
		if p.Name == name && protocolOf(p.Protocol) == proto {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// address is the Endpoints address of pod for the Service named svcName.
func address(pod *corev1.Pod, svcName string) corev1.EndpointAddress {
	a := corev1.EndpointAddress{
		IP: pod.Status.PodIP,
		TargetRef: &corev1.ObjectReference{
			Kind:      "Pod",
			Namespace: pod.Namespace,
			Name:      pod.Name,
			UID:       pod.UID,
		},
	}
	if pod.Spec.NodeName != "" {
		a.NodeName = &pod.Spec.NodeName
	}
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svcName {
		a.Hostname = pod.Spec.Hostname
	}
	return a
}

// Subsets computes the Endpoints subsets of svc from pods (which may include
// pods the Service does not select; they are skipped). Each pod is resolved to
// the set of ports it serves (a named targetPort is looked up in that pod; a pod
// without the name is left out of that port), and pods with the same port set
// share a subset, ready ones in Addresses and the others in NotReadyAddresses
// (all in Addresses when the Service publishes not-ready addresses). A Service
// without ports gets its addresses in one subset without ports. The result is
// in canonical order (see Canonical) and nil when no pod qualifies.
func Subsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	tolerate := tolerateUnready(svc)
	groups := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if pod.Namespace != svc.Namespace || !selects(svc.Spec.Selector, pod.Labels) {
			continue
		}
		if !shouldInclude(pod, tolerate) {
			continue
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			ports = append(ports, corev1.EndpointPort{
				Name:        sp.Name,
				Port:        n,
				Protocol:    protocolOf(sp.Protocol),
				AppProtocol: sp.AppProtocol,
			})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // serves none of the Service's ports
		}
		sortPorts(ports)
		key := portsKey(ports)
		g, ok := groups[key]
		if !ok {
			g = &corev1.EndpointSubset{Ports: ports}
			groups[key] = g
		}
		addr := address(pod, svc.Name)
		if tolerate || podReady(pod) {
			g.Addresses = append(g.Addresses, addr)
		} else {
			g.NotReadyAddresses = append(g.NotReadyAddresses, addr)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	out := make([]corev1.EndpointSubset, 0, len(groups))
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		out = append(out, *groups[key])
	}
	return Canonical(out)
}

// portsKey is a string that identifies a sorted port list.
func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		fmt.Fprintf(&b, "%s/%d/%s/%s;", p.Name, p.Port, p.Protocol, app)
	}
	return b.String()
}

func sortPorts(ports []corev1.EndpointPort) {
	slices.SortFunc(ports, func(a, b corev1.EndpointPort) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := int(a.Port) - int(b.Port); c != 0 {
			return c
		}
		return strings.Compare(string(a.Protocol), string(b.Protocol))
	})
}

func addrKey(a corev1.EndpointAddress) string {
	k := a.IP
	if a.TargetRef != nil {
		k += "/" + a.TargetRef.Namespace + "/" + a.TargetRef.Name + "/" + string(a.TargetRef.UID)
	}
	return k
}

func sortAddresses(as []corev1.EndpointAddress) {
	slices.SortFunc(as, func(a, b corev1.EndpointAddress) int {
		return strings.Compare(addrKey(a), addrKey(b))
	})
}

// Canonical returns a copy of subsets in a stable order: ports, addresses and
// not-ready addresses sorted within each subset, subsets sorted by their ports,
// empty lists as nil. Two Endpoints that mean the same have equal canonical
// subsets.
func Canonical(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	if len(subsets) == 0 {
		return nil
	}
	out := make([]corev1.EndpointSubset, 0, len(subsets))
	for _, s := range subsets {
		c := *s.DeepCopy()
		if len(c.Addresses) == 0 {
			c.Addresses = nil
		}
		if len(c.NotReadyAddresses) == 0 {
			c.NotReadyAddresses = nil
		}
		if len(c.Ports) == 0 {
			c.Ports = nil
		}
		sortPorts(c.Ports)
		sortAddresses(c.Addresses)
		sortAddresses(c.NotReadyAddresses)
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b corev1.EndpointSubset) int {
		return strings.Compare(portsKey(a.Ports), portsKey(b.Ports))
	})
	return out
}

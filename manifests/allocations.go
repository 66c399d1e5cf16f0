package manifests

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nodePortKey is what a nodePort allocates: a port for one protocol.
type nodePortKey struct {
	port  int32
	proto corev1.Protocol
}

// ipField is one address a Service asks for and the field asking.
type ipField struct {
	addr netip.Addr
	path *field.Path
}

// allocations tracks the clusterIPs and nodePorts of a set of Services, and
// those of the live Services the set does not define.
type allocations struct {
	cidrs     []netip.Prefix
	ips       map[netip.Addr]Object
	ports     map[nodePortKey]Object
	liveIPs   map[netip.Addr]*corev1.Service
	livePorts map[nodePortKey]*corev1.Service
}

// newAllocations prepares the checks of set's Services: opts.ServiceCIDRs
// and the live Services of opts.Live that set does not define.
func newAllocations(set []Object, opts Options) *allocations {
	a := &allocations{cidrs: opts.ServiceCIDRs, ips: map[netip.Addr]Object{}, ports: map[nodePortKey]Object{},
		liveIPs: map[netip.Addr]*corev1.Service{}, livePorts: map[nodePortKey]*corev1.Service{}}
	if opts.Live == nil {
		return a
	}
	defined := map[string]bool{}
	for _, o := range set {
		if svc, ok := o.Obj.(*corev1.Service); ok {
			defined[svc.Namespace+"/"+svc.Name] = true
		}
	}
	for _, svc := range opts.Live.Services {
		if svc == nil || defined[svc.Namespace+"/"+svc.Name] {
			continue
		}
		for _, ip := range serviceIPs(svc) {
			if _, taken := a.liveIPs[ip.addr]; !taken {
				a.liveIPs[ip.addr] = svc
			}
		}
		for _, port := range svc.Spec.Ports {
			k := nodePortKey{port.NodePort, port.Protocol}
			if _, taken := a.livePorts[k]; port.NodePort != 0 && !taken {
				a.livePorts[k] = svc
			}
		}
	}
	return a
}

// serviceIPs returns the addresses svc asks for (spec.clusterIP and
// spec.clusterIPs), each once; "None", "" and addresses that do not parse
// (reported by the Service's own validation) are left out.
func serviceIPs(svc *corev1.Service) []ipField {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var out []ipField
	seen := map[netip.Addr]bool{}
	spec := field.NewPath("spec")
	add := func(s string, path *field.Path) {
		addr, err := netip.ParseAddr(s)
		if s == "" || s == corev1.ClusterIPNone || err != nil || seen[addr] {
			return
		}
		seen[addr] = true
		out = append(out, ipField{addr, path})
	}
	add(svc.Spec.ClusterIP, spec.Child("clusterIP"))
	for i, ip := range svc.Spec.ClusterIPs {
		add(ip, spec.Child("clusterIPs").Index(i))
	}
	return out
}

// check reports the clusterIPs and nodePorts of svc (defined by o) that lie
// outside the service CIDRs or are taken by a Service met before or a live
// one, and records the others as taken.
func (a *allocations) check(o Object, svc *corev1.Service) Problems {
	var ps Problems
	for _, ip := range serviceIPs(svc) {
		if msg := outsideCIDRs(ip.addr, a.cidrs); msg != "" {
			ps = append(ps, problemAt(o, ip.path.String(), msg, false))
		}
		if owner, taken := a.liveIPs[ip.addr]; taken {
			ps = append(ps, problemAt(o, ip.path.String(), fmt.Sprintf(
				"clusterIP %s is already allocated to Service %s/%s in the cluster, which this commit does not define; choose another address or leave the field empty to have one allocated",
				ip.addr, owner.Namespace, owner.Name), false))
			continue
		}
		if first, taken := a.ips[ip.addr]; taken {
			ps = append(ps, problemAt(o, ip.path.String(), fmt.Sprintf(
				"clusterIP %s is already used by %s at %s; every clusterIP must be unique in the cluster", ip.addr, first.ID(), where(first)), false))
			continue
		}
		a.ips[ip.addr] = o
	}
	seenHere := map[nodePortKey]bool{}
	for i, port := range svc.Spec.Ports {
		k := nodePortKey{port.NodePort, port.Protocol}
		if port.NodePort == 0 || seenHere[k] {
			continue // a duplicate within svc is reported by its own validation
		}
		seenHere[k] = true
		path := fmt.Sprintf("spec.ports[%d].nodePort", i)
		if owner, taken := a.livePorts[k]; taken {
			ps = append(ps, problemAt(o, path, fmt.Sprintf(
				"nodePort %d/%s is already allocated to Service %s/%s in the cluster, which this commit does not define; choose another port or leave the field empty to have one allocated",
				port.NodePort, port.Protocol, owner.Namespace, owner.Name), false))
			continue
		}
		if first, taken := a.ports[k]; taken {
			ps = append(ps, problemAt(o, path, fmt.Sprintf(
				"nodePort %d/%s is already used by %s at %s; every nodePort must be unique in the cluster", port.NodePort, port.Protocol, first.ID(), where(first)), false))
			continue
		}
		a.ports[k] = o
	}
	return ps
}

// outsideCIDRs returns why addr is outside every prefix of cidrs, or ""
// when it is inside one or cidrs is empty.
func outsideCIDRs(addr netip.Addr, cidrs []netip.Prefix) string {
	if len(cidrs) == 0 {
		return ""
	}
	names := make([]string, len(cidrs))
	for i, c := range cidrs {
		if c.Contains(addr) {
			return ""
		}
		names[i] = c.String()
	}
	noun := "CIDR"
	if len(cidrs) > 1 {
		noun = "CIDRs"
	}
	return fmt.Sprintf("clusterIP %s is outside the service %s %s; choose an address inside it or leave the field empty to have one allocated",
		addr, noun, strings.Join(names, ", "))
}

// ValidateServiceCIDR returns an error for each clusterIP of svc
// (spec.clusterIP, spec.clusterIPs) outside every prefix of cidrs, the
// check sync makes with Options.ServiceCIDRs; none when cidrs is empty.
func ValidateServiceCIDR(svc *corev1.Service, cidrs []netip.Prefix) field.ErrorList {
	var errs field.ErrorList
	for _, ip := range serviceIPs(svc) {
		if msg := outsideCIDRs(ip.addr, cidrs); msg != "" {
			errs = append(errs, field.Invalid(ip.path, ip.addr.String(), msg))
		}
	}
	return errs
}

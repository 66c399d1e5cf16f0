package serviceip

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PortRange is an inclusive range of node ports.
type PortRange struct {
	Min, Max int32
}

// DefaultNodePortRange is Kubernetes' default --service-node-port-range.
var DefaultNodePortRange = PortRange{Min: 30000, Max: 32767}

// String returns "min-max".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Min, r.Max) }

// Contains reports whether port is in the range.
func (r PortRange) Contains(port int32) bool { return port >= r.Min && port <= r.Max }

// ParsePortRange parses "min-max" (e.g. "30000-32767").
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, errA := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
	b, errB := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
	if !ok || errA != nil || errB != nil || a < 1 || b > 65535 || a > b {
		return PortRange{}, fmt.Errorf("serviceip: port range %q: want min-max within 1-65535", s)
	}
	return PortRange{Min: int32(a), Max: int32(b)}, nil
}

// portKey names a node port: number and protocol.
type portKey struct {
	port  int32
	proto corev1.Protocol
}

// ipRange is an IPv4 service CIDR: offsets 0 (network), 1 (reserved for the
// "kubernetes" Service, as Kubernetes does) and size-1 (broadcast) are never
// handed out.
type ipRange struct {
	cidr *net.IPNet
	base uint32
	size uint32
}

func newIPRange(cidr *net.IPNet) (ipRange, error) {
	ip4 := cidr.IP.To4()
	ones, bits := cidr.Mask.Size()
	if ip4 == nil || bits != 32 {
		return ipRange{}, fmt.Errorf("serviceip: service CIDR %s: only IPv4 is supported", cidr)
	}
	if bits-ones < 2 {
		return ipRange{}, fmt.Errorf("serviceip: service CIDR %s is too small: need at least a /30", cidr)
	}
	if bits-ones > 20 {
		return ipRange{}, fmt.Errorf("serviceip: service CIDR %s is too large: at most a /12, as Kubernetes", cidr)
	}
	return ipRange{cidr: cidr, base: binary.BigEndian.Uint32(ip4.Mask(cidr.Mask)), size: 1 << (bits - ones)}, nil
}

// offset returns ip's offset in the range, and whether it may be allocated.
func (r ipRange) offset(ip net.IP) (uint32, bool) {
	ip4 := ip.To4()
	if ip4 == nil || !r.cidr.Contains(ip4) {
		return 0, false
	}
	off := binary.BigEndian.Uint32(ip4) - r.base
	return off, off >= 1 && off < r.size-1
}

func (r ipRange) ip(off uint32) net.IP {
	b := make(net.IP, 4)
	binary.BigEndian.PutUint32(b, r.base+off)
	return b
}

// first and last allocatable offsets (offset 1 is reserved, not allocatable,
// but a manifest may name it: it is "in range").
func (r ipRange) first() uint32 { return 2 }
func (r ipRange) last() uint32  { return r.size - 2 }

// allocator remembers which Service owns each cluster IP and node port. It is
// not safe for concurrent use; the Controller guards it.
type allocator struct {
	ips     ipRange
	ports   PortRange
	ipOwner map[uint32]string // offset -> service key
	ipOf    map[string]uint32 // service key -> offset
	ipNext  uint32            // where the next search starts

	portOwner map[portKey]string
	portsOf   map[string]map[portKey]string // service key -> node port -> service port id
	portNext  int32
}

func newAllocator(ips ipRange, ports PortRange) *allocator {
	return &allocator{
		ips: ips, ports: ports,
		ipOwner: map[uint32]string{}, ipOf: map[string]uint32{}, ipNext: ips.first(),
		portOwner: map[portKey]string{}, portsOf: map[string]map[portKey]string{}, portNext: ports.Min,
	}
}

// claimIP gives offset off to key unless another key owns it; key's other
// IP, if any, is released. It reports whether key owns off now and, if not,
// who does.
func (a *allocator) claimIP(key string, off uint32) (bool, string) {
	if o, ok := a.ipOwner[off]; ok && o != key {
		return false, o
	}
	a.releaseIP(key)
	a.ipOwner[off], a.ipOf[key] = key, off
	return true, ""
}

// allocateIP returns key's IP, allocating the next free one when key has
// none; false when the range is full.
func (a *allocator) allocateIP(key string) (uint32, bool) {
	if off, ok := a.ipOf[key]; ok {
		return off, true
	}
	n := a.ips.last() - a.ips.first() + 1
	for i := uint32(0); i < n; i++ {
		off := a.ips.first() + (a.ipNext-a.ips.first()+i)%n
		if _, taken := a.ipOwner[off]; !taken {
			a.ipOwner[off], a.ipOf[key] = key, off
			a.ipNext = off + 1
			if a.ipNext > a.ips.last() {
				a.ipNext = a.ips.first()
			}
			return off, true
		}
	}
	return 0, false
}

// releaseIP frees key's IP; it reports whether there was one.
func (a *allocator) releaseIP(key string) bool {
	off, ok := a.ipOf[key]
	if ok {
		delete(a.ipOf, key)
		delete(a.ipOwner, off)
	}
	return ok
}

// claimPort gives node port k to key for service port id unless another
// key owns it; it reports whether key owns it now and, if not, who does.
func (a *allocator) claimPort(key string, k portKey, id string) (bool, string) {
	if o, ok := a.portOwner[k]; ok && o != key {
		return false, o
	}
	a.portOwner[k] = key
	if a.portsOf[key] == nil {
		a.portsOf[key] = map[portKey]string{}
	}
	a.portsOf[key][k] = id
	return true, ""
}

// allocatePort returns the node port key already holds for service port id
// (not in used), or allocates the next free one; false when none is free.
func (a *allocator) allocatePort(key string, proto corev1.Protocol, id string, used map[portKey]bool) (int32, bool) {
	for k, owned := range a.portsOf[key] {
		if owned == id && k.proto == proto && !used[k] {
			return k.port, true
		}
	}
	n := a.ports.Max - a.ports.Min + 1
	for i := int32(0); i < n; i++ {
		p := a.ports.Min + (a.portNext-a.ports.Min+i)%n
		k := portKey{p, proto}
		if _, taken := a.portOwner[k]; !taken {
			a.claimPort(key, k, id)
			a.portNext = p + 1
			if a.portNext > a.ports.Max {
				a.portNext = a.ports.Min
			}
			return p, true
		}
	}
	return 0, false
}

// releasePortsExcept frees key's node ports not in keep; it reports whether
// any was freed.
func (a *allocator) releasePortsExcept(key string, keep map[portKey]bool) bool {
	freed := false
	for k := range a.portsOf[key] {
		if !keep[k] {
			delete(a.portsOf[key], k)
			delete(a.portOwner, k)
			freed = true
		}
	}
	if len(a.portsOf[key]) == 0 {
		delete(a.portsOf, key)
	}
	return freed
}

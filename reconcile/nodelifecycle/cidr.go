package nodelifecycle

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
)

// ErrCIDRRangeExhausted means every pod CIDR of the cluster CIDR is taken.
var ErrCIDRRangeExhausted = errors.New("cluster CIDR range exhausted")

// maxSubnetBits bounds how many subnets a cluster CIDR may be cut into (2^16),
// as Kubernetes' cidrset does.
const maxSubnetBits = 16

// cidrSet hands out the subnets of size /mask of a cluster CIDR, one per node,
// as Kubernetes' range allocator does. It holds no state of its own beyond
// memory: the controller fills it from the podCIDRs of the nodes it sees, so a
// restarted controller knows what is taken. It is safe for concurrent use.
type cidrSet struct {
	cluster *net.IPNet
	base    *big.Int // the cluster network address
	bits    int      // 32 or 128
	mask    int      // prefix length of a node's subnet
	size    int      // number of subnets

	mu     sync.Mutex
	owner  []string         // subnet index -> node ("" = free)
	byNode map[string][]int // node -> subnet indexes
	next   int              // where the next search starts
}

func newCIDRSet(cluster *net.IPNet, mask int) (*cidrSet, error) {
	ones, bits := cluster.Mask.Size()
	if bits == 0 {
		return nil, fmt.Errorf("nodelifecycle: cluster CIDR %s has a non-canonical mask", cluster)
	}
	if mask < ones || mask > bits {
		return nil, fmt.Errorf("nodelifecycle: node CIDR mask size /%d must be between the cluster CIDR's /%d and /%d", mask, ones, bits)
	}
	if mask-ones > maxSubnetBits {
		return nil, fmt.Errorf("nodelifecycle: node CIDR mask size /%d cuts cluster CIDR %s into more than 2^%d subnets; use a larger node mask",
			mask, cluster, maxSubnetBits)
	}
	ip := cluster.IP.Mask(cluster.Mask)
	if bits == 32 {
		ip = ip.To4()
	}
	size := 1 << (mask - ones)
	return &cidrSet{
		cluster: &net.IPNet{IP: ip, Mask: cluster.Mask},
		base:    new(big.Int).SetBytes(ip),
		bits:    bits,
		mask:    mask,
		size:    size,
		owner:   make([]string, size),
		byNode:  map[string][]int{},
	}, nil
}

// subnet returns subnet number i.
func (s *cidrSet) subnet(i int) *net.IPNet {
	n := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.bits-s.mask))
	n.Add(n, s.base)
	ip := make(net.IP, s.bits/8)
	n.FillBytes(ip)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(s.mask, s.bits)}
}

// indexesOf returns the subnets a CIDR covers (one when it is smaller than a
// subnet, several when it is larger); ok is false when it is not inside the
// cluster CIDR or of another family.
func (s *cidrSet) indexesOf(cidr string) ([]int, bool) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, false
	}
	ones, bits := n.Mask.Size()
	if bits != s.bits || !s.cluster.Contains(n.IP) {
		return nil, false
	}
	clusterOnes, _ := s.cluster.Mask.Size()
	if ones < clusterOnes {
		return nil, false
	}
	ip := n.IP
	if bits == 32 {
		ip = ip.To4()
	}
	off := new(big.Int).Sub(new(big.Int).SetBytes(ip), s.base)
	first := int(off.Rsh(off, uint(s.bits-s.mask)).Int64())
	count := 1
	if ones < s.mask {
		count = 1 << (s.mask - ones)
	}
	out := make([]int, 0, count)
	for i := first; i < first+count && i < s.size; i++ {
		out = append(out, i)
	}
	return out, true
}

// observe records that node uses the CIDRs cidrs (its spec.podCIDRs), replacing
// whatever the set had for it. CIDRs outside the cluster CIDR are ignored; a
// subnet already held by another node is reported in the error and left to the
// first holder.
func (s *cidrSet) observe(node string, cidrs []string) error {
	var idx []int
	for _, c := range cidrs {
		if is, ok := s.indexesOf(c); ok {
			idx = append(idx, is...)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(node)
	var clash []string
	for _, i := range idx {
		if o := s.owner[i]; o != "" && o != node {
			clash = append(clash, fmt.Sprintf("%s (held by node %s)", s.subnet(i), o))
			continue
		}
		s.owner[i] = node
		s.byNode[node] = append(s.byNode[node], i)
	}
	if clash != nil {
		return fmt.Errorf("nodelifecycle: node %s: pod CIDR overlaps another node's: %v", node, clash)
	}
	return nil
}

// allocate returns node's subnet: the one it already holds, else the next free
// one. The error wraps ErrCIDRRangeExhausted when none is free.
func (s *cidrSet) allocate(node string) (*net.IPNet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := s.byNode[node]; len(idx) > 0 {
		return s.subnet(idx[0]), nil
	}
	for k := range s.size {
		i := (s.next + k) % s.size
		if s.owner[i] == "" {
			s.owner[i] = node
			s.byNode[node] = []int{i}
			s.next = (i + 1) % s.size
			return s.subnet(i), nil
		}
	}
	return nil, fmt.Errorf("nodelifecycle: node %s: all %d subnets /%d of %s are taken: %w",
		node, s.size, s.mask, s.cluster, ErrCIDRRangeExhausted)
}

// release frees node's subnets.
func (s *cidrSet) release(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(node)
}

func (s *cidrSet) releaseLocked(node string) {
	for _, i := range s.byNode[node] {
		if s.owner[i] == node {
			s.owner[i] = ""
		}
	}
	delete(s.byNode, node)
}

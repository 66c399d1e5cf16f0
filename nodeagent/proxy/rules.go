package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Names of bosun's own chains. Only these chains, and chains whose names
// start with the per-service prefixes, are ever written or deleted.
const (
	ChainServices         = "BOSUN-SERVICES"
	ChainExternalServices = "BOSUN-EXTERNAL-SERVICES"
	ChainNodePorts        = "BOSUN-NODEPORTS"
	ChainPostrouting      = "BOSUN-POSTROUTING"
	ChainMarkMasq         = "BOSUN-MARK-MASQ"

	svcChainPrefix = "BOSUN-SVC-"
	sepChainPrefix = "BOSUN-SEP-"
)

// Table names.
const (
	TableNAT    = "nat"
	TableFilter = "filter"
)

// masqMark is the packet mark (bit 14, as kube-proxy's default) that asks
// BOSUN-POSTROUTING to masquerade a packet.
const masqMark = "0x4000"

// DefaultAffinityTimeout is the ClientIP affinity timeout in seconds when a
// Service does not set sessionAffinityConfig.clientIP.timeoutSeconds, as in
// Kubernetes.
const DefaultAffinityTimeout = 10800

// isBosunChain reports whether chain is one of bosun's chains.
func isBosunChain(chain string) bool {
	return strings.HasPrefix(chain, "BOSUN-")
}

// jumpRule is a rule in a built-in chain that jumps into a bosun chain.
type jumpRule struct {
	table, chain string // built-in chain holding the rule
	args         []string
}

// jumpRules are the rules, in the built-in chains, leading into bosun's
// chains. They are inserted at position 1 so that they precede other rules.
var jumpRules = []jumpRule{
	{TableNAT, "PREROUTING", []string{"-m", "comment", "--comment", "bosun service portals", "-j", ChainServices}},
	{TableNAT, "OUTPUT", []string{"-m", "comment", "--comment", "bosun service portals", "-j", ChainServices}},
	{TableNAT, "POSTROUTING", []string{"-m", "comment", "--comment", "bosun postrouting rules", "-j", ChainPostrouting}},
	{TableFilter, "INPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "bosun externally-visible service portals", "-j", ChainExternalServices}},
	{TableFilter, "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "bosun service portals", "-j", ChainServices}},
	{TableFilter, "FORWARD", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "bosun externally-visible service portals", "-j", ChainExternalServices}},
	{TableFilter, "OUTPUT", []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "bosun service portals", "-j", ChainServices}},
}

// topChains are the fixed chains of each table, in declaration order.
var topChains = map[string][]string{
	TableNAT:    {ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq},
	TableFilter: {ChainServices, ChainExternalServices},
}

// chainSet is the content of one table's bosun chains: chain name -> rules
// (each rule a line without the "-A CHAIN " prefix), and the order in which
// the chains were first added.
type chainSet struct {
	order []string
	rules map[string][]string
}

func newChainSet() *chainSet { return &chainSet{rules: map[string][]string{}} }

func (c *chainSet) ensure(chain string) {
	if _, ok := c.rules[chain]; !ok {
		c.order = append(c.order, chain)
		c.rules[chain] = nil
	}
}

func (c *chainSet) add(chain string, args ...string) {
	c.ensure(chain)
	c.rules[chain] = append(c.rules[chain], strings.Join(args, " "))
}

// ruleSet is what bosun wants in the nat and filter tables.
type ruleSet struct {
	tables map[string]*chainSet
}

// buildOptions are the node-level inputs of buildRules.
type buildOptions struct {
	// clusterCIDR, when set, makes traffic to a ClusterIP from outside it
	// masqueraded, as kube-proxy's --cluster-cidr.
	clusterCIDR string
	// nodeIPs, when set, limit node ports to these addresses, as
	// kube-proxy's --nodeport-addresses; otherwise every local address
	// (addrtype LOCAL) serves them.
	nodeIPs []string
	// serviceCIDRs, when set, are the ranges cluster IPs are allocated
	// from (the server's --service-cidr): a Service whose cluster IP lies
	// outside all of them gets no rules at all, in either mode. Validation
	// refuses such Services; this keeps one that reached the store anyway
	// from capturing traffic to an outside address (8.8.8.8, say).
	serviceCIDRs []netip.Prefix
}

// inServiceCIDRs reports whether the cluster IP ip lies in one of the
// service CIDRs; true when none are set.
func (o buildOptions) inServiceCIDRs(ip string) bool {
	if len(o.serviceCIDRs) == 0 {
		return true
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range o.serviceCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// programmed reports whether svc gets rules: it is proxied and its cluster
// IP lies in the service CIDRs.
func (o buildOptions) programmed(svc *corev1.Service) bool {
	return proxied(svc) && o.inServiceCIDRs(svc.Spec.ClusterIP)
}

// outsideServiceCIDRs returns the proxied Services among services whose
// cluster IP lies outside the service CIDRs: those that get no rules.
func (o buildOptions) outsideServiceCIDRs(services []*corev1.Service) []*corev1.Service {
	var out []*corev1.Service
	for _, s := range services {
		if proxied(s) && !o.inServiceCIDRs(s.Spec.ClusterIP) {
			out = append(out, s)
		}
	}
	return out
}

// withoutOutside returns services without those outsideServiceCIDRs
// returns (services itself when there are none).
func (o buildOptions) withoutOutside(services []*corev1.Service) []*corev1.Service {
	if len(o.serviceCIDRs) == 0 {
		return services
	}
	out := make([]*corev1.Service, 0, len(services))
	for _, s := range services {
		if !proxied(s) || o.inServiceCIDRs(s.Spec.ClusterIP) {
			out = append(out, s)
		}
	}
	return out
}

// localMatches returns the match arguments selecting traffic to this node:
// one per node IP, or a single addrtype LOCAL match.
func (o buildOptions) localMatches() [][]string {
	if len(o.nodeIPs) == 0 {
		return [][]string{{"-m", "addrtype", "--dst-type", "LOCAL"}}
	}
	out := make([][]string, 0, len(o.nodeIPs))
	for _, ip := range o.nodeIPs {
		out = append(out, []string{"-d", hostCIDR(ip)})
	}
	return out
}

// servicePort is one port of one Service, with its ready endpoints.
type servicePort struct {
	name      string // "ns/svc:port" for comments and hashing
	svc       *corev1.Service
	port      corev1.ServicePort
	protocol  string // lower case
	endpoints []string
}

// endpointsIndex indexes Endpoints by namespace/name.
func endpointsIndex(eps []*corev1.Endpoints) map[string]*corev1.Endpoints {
	m := make(map[string]*corev1.Endpoints, len(eps))
	for _, ep := range eps {
		m[ep.Namespace+"/"+ep.Name] = ep
	}
	return m
}

// proxied reports whether svc gets rules: it has a cluster IP (not headless,
// not ExternalName).
func proxied(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false
	}
	ip := svc.Spec.ClusterIP
	return ip != "" && ip != corev1.ClusterIPNone && net.ParseIP(ip) != nil
}

// portLabel names a service port in comments: its name, or its number when
// unnamed.
func portLabel(p corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

// readyEndpoints returns the sorted "ip:port" of the ready addresses of ep
// serving the service port p (matched by port name and protocol, as
// Kubernetes does).
func readyEndpoints(ep *corev1.Endpoints, p corev1.ServicePort) []string {
	if ep == nil {
		return nil
	}
	proto := p.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	seen := map[string]bool{}
	var out []string
	for _, ss := range ep.Subsets {
		for _, epp := range ss.Ports {
			epProto := epp.Protocol
			if epProto == "" {
				epProto = corev1.ProtocolTCP
			}
			if epp.Name != p.Name || epProto != proto || epp.Port <= 0 {
				continue
			}
			for _, a := range ss.Addresses {
				if net.ParseIP(a.IP) == nil {
					continue
				}
				s := net.JoinHostPort(a.IP, strconv.Itoa(int(epp.Port)))
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// servicePorts lists every proxied service port, sorted by namespace, name
// and then in spec order, with its ready endpoints.
func servicePorts(services []*corev1.Service, eps []*corev1.Endpoints) []servicePort {
	idx := endpointsIndex(eps)
	svcs := make([]*corev1.Service, 0, len(services))
	for _, s := range services {
		if proxied(s) {
			svcs = append(svcs, s)
		}
	}
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].Namespace != svcs[j].Namespace {
			return svcs[i].Namespace < svcs[j].Namespace
		}
		return svcs[i].Name < svcs[j].Name
	})
	var out []servicePort
	for _, s := range svcs {
		out = append(out, portsOf(s, idx[s.Namespace+"/"+s.Name])...)
	}
	return out
}

// portsOf returns the ports of the proxied Service s, in spec order, with
// their ready endpoints in ep (which may be nil).
func portsOf(s *corev1.Service, ep *corev1.Endpoints) []servicePort {
	out := make([]servicePort, 0, len(s.Spec.Ports))
	for _, p := range s.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, servicePort{
			name:      s.Namespace + "/" + s.Name + ":" + portLabel(p),
			svc:       s,
			port:      p,
			protocol:  strings.ToLower(string(proto)),
			endpoints: readyEndpoints(ep, p),
		})
	}
	return out
}

// chainHash returns the 16 character chain name suffix for the given parts.
func chainHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

func svcChain(sp servicePort) string {
	return svcChainPrefix + chainHash(sp.name, sp.protocol)
}

func sepChain(sp servicePort, endpoint string) string {
	return sepChainPrefix + chainHash(sp.name, sp.protocol, endpoint)
}

// hostCIDR returns ip as a /32 (or /128) CIDR.
func hostCIDR(ip string) string {
	if strings.Contains(ip, ":") {
		return ip + "/128"
	}
	return ip + "/32"
}

// affinityTimeout returns the ClientIP affinity timeout of svc in seconds, or
// 0 when svc has no ClientIP affinity.
func affinityTimeout(svc *corev1.Service) int32 {
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		return 0
	}
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
		return *c.ClientIP.TimeoutSeconds
	}
	return DefaultAffinityTimeout
}

// comment returns the arguments of a comment match.
func comment(text string) []string {
	return []string{"-m", "comment", "--comment", strconv.Quote(text)}
}

// buildRules computes the whole content of bosun's nat and filter chains
// for the given Services and Endpoints. It is a pure function: the same
// input always gives the same rules in the same order.
func buildRules(services []*corev1.Service, eps []*corev1.Endpoints, opts buildOptions) *ruleSet {
	nat, filter := newChainSet(), newChainSet()
	for _, c := range topChains[TableNAT] {
		nat.ensure(c)
	}
	for _, c := range topChains[TableFilter] {
		filter.ensure(c)
	}

	nat.add(ChainMarkMasq, "-j", "MARK", "--or-mark", masqMark)
	nat.add(ChainPostrouting, "-m", "mark", "!", "--mark", masqMark+"/"+masqMark, "-j", "RETURN")
	// Clear the mark so that a packet traversing the chains again (e.g.
	// re-encapsulated) is not masqueraded twice.
	nat.add(ChainPostrouting, "-j", "MARK", "--xor-mark", masqMark)
	nat.add(ChainPostrouting, append(comment("bosun service traffic requiring SNAT"), "-j", "MASQUERADE")...)

	for _, sp := range servicePorts(opts.withoutOutside(services), eps) {
		proto := []string{"-p", sp.protocol, "-m", sp.protocol}
		clusterIP := hostCIDR(sp.svc.Spec.ClusterIP)
		port := strconv.Itoa(int(sp.port.Port))
		nodePort := int32(0)
		if t := sp.svc.Spec.Type; t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer {
			nodePort = sp.port.NodePort
		}

		if len(sp.endpoints) == 0 {
			// No ready endpoint: reject at once rather than let the
			// connection hang on an address nobody answers.
			args := append(comment(sp.name+" has no endpoints"), proto...)
			args = append(args, "-d", clusterIP, "--dport", port, "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
			filter.add(ChainServices, args...)
			if nodePort != 0 {
				for _, local := range opts.localMatches() {
					args := append(comment(sp.name+" has no endpoints"), local...)
					args = append(args, proto...)
					args = append(args, "--dport", strconv.Itoa(int(nodePort)), "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
					filter.add(ChainExternalServices, args...)
				}
			}
			continue
		}

		svcChain := svcChain(sp)
		nat.ensure(svcChain)
		args := append(comment(sp.name+" cluster IP"), proto...)
		args = append(args, "-d", clusterIP, "--dport", port, "-j", svcChain)
		nat.add(ChainServices, args...)
		if opts.clusterCIDR != "" {
			args := append(comment(sp.name+" cluster IP"), proto...)
			args = append(args, "-d", clusterIP, "--dport", port, "!", "-s", opts.clusterCIDR, "-j", ChainMarkMasq)
			nat.add(svcChain, args...)
		}
		if nodePort != 0 {
			np := strconv.Itoa(int(nodePort))
			args := append(comment(sp.name), proto...)
			args = append(args, "--dport", np)
			nat.add(ChainNodePorts, append(append([]string{}, args...), "-j", ChainMarkMasq)...)
			nat.add(ChainNodePorts, append(args, "-j", svcChain)...)
		}

		timeout := affinityTimeout(sp.svc)
		seps := make([]string, len(sp.endpoints))
		for i, e := range sp.endpoints {
			seps[i] = sepChain(sp, e)
		}
		if timeout > 0 {
			for i, e := range sp.endpoints {
				args := append(comment(sp.name+" -> "+e), "-m", "recent", "--name", seps[i],
					"--mask", "255.255.255.255", "--rsource", "--rcheck", "--seconds", strconv.Itoa(int(timeout)), "--reap", "-j", seps[i])
				nat.add(svcChain, args...)
			}
		}
		n := len(sp.endpoints)
		for i, e := range sp.endpoints {
			args := comment(sp.name + " -> " + e)
			if i < n-1 {
				args = append(args, "-m", "statistic", "--mode", "random", "--probability", probability(n-i))
			}
			nat.add(svcChain, append(args, "-j", seps[i])...)
		}
		for i, e := range sp.endpoints {
			host, _, _ := net.SplitHostPort(e)
			nat.ensure(seps[i])
			// Hairpin: a pod reaching itself through its Service must be
			// masqueraded, or its reply would bypass the DNAT.
			nat.add(seps[i], append(comment(sp.name), "-s", hostCIDR(host), "-j", ChainMarkMasq)...)
			args := append(comment(sp.name), proto...)
			if timeout > 0 {
				args = append(args, "-m", "recent", "--name", seps[i], "--mask", "255.255.255.255", "--rsource", "--set")
			}
			nat.add(seps[i], append(args, "-j", "DNAT", "--to-destination", e)...)
		}
	}
	// Node ports last, so that a ClusterIP that happens to be local wins.
	for _, local := range opts.localMatches() {
		args := append(comment("bosun service nodeports; NOTE: this must be the last rule in this chain"), local...)
		nat.add(ChainServices, append(args, "-j", ChainNodePorts)...)
	}
	return &ruleSet{tables: map[string]*chainSet{TableNAT: nat, TableFilter: filter}}
}

// probability formats 1/n as kube-proxy does.
func probability(n int) string {
	return fmt.Sprintf("%0.10f", 1.0/float64(n))
}

// restoreInput renders the iptables-restore --noflush input for one table:
// every chain of want whose rules differ from last (all of them when last is
// nil) is declared (which flushes it) and filled, and every chain in stale
// is declared and deleted. Chains in neither are left untouched. It returns
// nil when nothing needs writing.
func restoreInput(table string, want *chainSet, last map[string]string, stale []string) []byte {
	var decl, rules, del bytes.Buffer
	for _, chain := range want.order {
		content := strings.Join(want.rules[chain], "\n")
		if last != nil {
			if prev, ok := last[chain]; ok && prev == content {
				continue
			}
		}
		fmt.Fprintf(&decl, ":%s - [0:0]\n", chain)
		for _, r := range want.rules[chain] {
			fmt.Fprintf(&rules, "-A %s %s\n", chain, r)
		}
	}
	for _, chain := range stale {
		fmt.Fprintf(&decl, ":%s - [0:0]\n", chain)
		fmt.Fprintf(&del, "-X %s\n", chain)
	}
	if decl.Len() == 0 {
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%s\n", table)
	b.Write(decl.Bytes())
	b.Write(rules.Bytes())
	b.Write(del.Bytes())
	b.WriteString("COMMIT\n")
	return b.Bytes()
}

// contents returns chain -> rules joined, the form restoreInput compares.
func (c *chainSet) contents() map[string]string {
	m := make(map[string]string, len(c.rules))
	for chain, r := range c.rules {
		m[chain] = strings.Join(r, "\n")
	}
	return m
}

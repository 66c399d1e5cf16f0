package dns

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// Lister is where the server reads Services and Endpoints from: the
// agent's watch cache, never the API. Implementations are safe for
// concurrent use; the objects they return are shared and must not be
// changed. APISource is the node agent's Lister.
type Lister interface {
	// Service returns the Service namespace/name, if cached.
	Service(namespace, name string) (*corev1.Service, bool)
	// Endpoints returns the Endpoints namespace/name, if cached.
	Endpoints(namespace, name string) (*corev1.Endpoints, bool)
	// Synced reports whether Services and Endpoints were each listed once:
	// before that, every cluster name would wrongly be NXDOMAIN.
	Synced() bool
}

// ReverseLister is a Lister that also finds objects by IP, for PTR
// answers: a cluster IP names its Service, a headless Service's ready
// endpoint its endpoint name. APISource is one. Without it, reverse
// queries are forwarded.
type ReverseLister interface {
	Lister
	// ServicesByIP returns the Services with ip among their cluster IPs.
	ServicesByIP(ip string) []*corev1.Service
	// EndpointsByIP returns the Endpoints with ip among their ready
	// addresses.
	EndpointsByIP(ip string) []*corev1.Endpoints
}

// outcome is what the resolver found for a name in the cluster domain.
type outcome int

const (
	found    outcome = iota // the name exists (answer may be empty: NODATA)
	nxdomain                // the name does not exist
	notReady                // the cache has not synced: SERVFAIL
)

// resolver answers questions about the cluster domain from a Lister.
type resolver struct {
	zone   string // lower-case, fully qualified: "cluster.local."
	lister Lister
	ttl    uint32
}

// inZone reports whether the lower-cased, fully qualified name lies in
// the cluster domain.
func (r *resolver) inZone(name string) bool {
	return dns.IsSubDomain(r.zone, name)
}

// labels returns the labels of name before the zone, left to right:
// "_http._tcp.web.prod.svc.cluster.local." gives [_http _tcp web prod svc].
func (r *resolver) labels(name string) []string {
	rel := strings.TrimSuffix(name[:len(name)-len(r.zone)], ".")
	if rel == "" {
		return nil
	}
	return strings.Split(rel, ".")
}

// reply holds the records of an answer being built.
type reply struct {
	answer, extra []dns.RR
	// cname is the target of an ExternalName Service, for the server to
	// resolve (outside the cluster) after the CNAME record.
	cname string
}

// resolve answers the question q; lname is q.Name in lower case, in the
// zone. Answers are owned by q.Name, so that the case asked is kept.
func (r *resolver) resolve(q dns.Question, lname string) (outcome, reply) {
	if !r.lister.Synced() {
		return notReady, reply{}
	}
	ls := r.labels(lname)
	n := len(ls)
	switch {
	case n == 0: // the zone apex
		var rep reply
		switch q.Qtype {
		case dns.TypeSOA:
			rep.answer = []dns.RR{r.soa()}
		case dns.TypeNS:
			rep.answer = []dns.RR{&dns.NS{Hdr: r.hdr(q.Name, dns.TypeNS), Ns: "ns.dns." + r.zone}}
		}
		return found, rep
	case ls[n-1] == "svc":
		switch n {
		case 1, 2: // svc.<zone>, <ns>.svc.<zone>: names exist below them
			return found, reply{}
		case 3:
			return r.service(q, ls[1], ls[0])
		case 4:
			return r.endpoint(q, ls[2], ls[1], ls[0])
		case 5:
			return r.srv(q, ls[3], ls[2], ls[0], ls[1])
		}
	case ls[n-1] == "pod":
		switch n {
		case 1, 2:
			return found, reply{}
		case 3:
			return r.pod(q, ls[0])
		}
	}
	return nxdomain, reply{}
}

func (r *resolver) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.ttl}
}

// soa is the zone's SOA record, sent in the authority section of negative
// answers; its minimum (the negative-caching TTL) is the records' TTL.
func (r *resolver) soa() dns.RR {
	return &dns.SOA{Hdr: r.hdr(r.zone, dns.TypeSOA), Ns: "ns.dns." + r.zone, Mbox: "hostmaster." + r.zone,
		Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: r.ttl}
}

// addrRR returns the A or AAAA record of ip for name when qtype asks for
// its family (or ANY), else nil.
func (r *resolver) addrRR(name string, qtype uint16, ip netip.Addr) dns.RR {
	ip = ip.Unmap()
	switch {
	case ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
		return &dns.A{Hdr: r.hdr(name, dns.TypeA), A: ip.AsSlice()}
	case ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
		return &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: ip.AsSlice()}
	}
	return nil
}

// service answers <svc>.<ns>.svc.<zone>: the ClusterIPs, the ready
// endpoints of a headless Service, a CNAME for an ExternalName Service,
// and SRV records for every named port.
func (r *resolver) service(q dns.Question, ns, name string) (outcome, reply) {
	svc, ok := r.lister.Service(ns, name)
	if !ok {
		return nxdomain, reply{}
	}
	var rep reply
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if q.Qtype == dns.TypeSRV { // an ExternalName has no ports of its own
			return found, rep
		}
		target := dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		rep.answer = []dns.RR{&dns.CNAME{Hdr: r.hdr(q.Name, dns.TypeCNAME), Target: target}}
		if q.Qtype != dns.TypeCNAME {
			rep.cname = target
		}
		return found, rep
	}
	if q.Qtype == dns.TypeSRV {
		return found, r.srvRecords(q, svc, ns, name, "", "")
	}
	if headless(svc) {
		seen := map[netip.Addr]bool{}
		r.forEachReady(ns, name, func(a corev1.EndpointAddress) {
			if ip, err := netip.ParseAddr(a.IP); err == nil && !seen[ip] {
				seen[ip] = true
				if rr := r.addrRR(q.Name, q.Qtype, ip); rr != nil {
					rep.answer = append(rep.answer, rr)
				}
			}
		})
		return found, rep
	}
	for _, ip := range clusterIPs(svc) {
		if rr := r.addrRR(q.Name, q.Qtype, ip); rr != nil {
			rep.answer = append(rep.answer, rr)
		}
	}
	return found, rep
}

// endpoint answers <host>.<svc>.<ns>.svc.<zone> for a headless Service:
// host is an endpoint's hostname (a pod with spec.hostname and
// spec.subdomain naming the Service) or its IP with dashes.
func (r *resolver) endpoint(q dns.Question, ns, svcName, host string) (outcome, reply) {
	svc, ok := r.lister.Service(ns, svcName)
	if !ok || !headless(svc) {
		return nxdomain, reply{}
	}
	var rep reply
	exists := false
	seen := map[netip.Addr]bool{}
	r.forEachReady(ns, svcName, func(a corev1.EndpointAddress) {
		if endpointHost(a) != host && dashed(a.IP) != host {
			return
		}
		exists = true
		if ip, err := netip.ParseAddr(a.IP); err == nil && !seen[ip] {
			seen[ip] = true
			if rr := r.addrRR(q.Name, q.Qtype, ip); rr != nil {
				rep.answer = append(rep.answer, rr)
			}
		}
	})
	if !exists {
		return nxdomain, reply{}
	}
	return found, rep
}

// srv answers _<port>._<proto>.<svc>.<ns>.svc.<zone>.
func (r *resolver) srv(q dns.Question, ns, name, port, proto string) (outcome, reply) {
	if !strings.HasPrefix(port, "_") || !strings.HasPrefix(proto, "_") {
		return nxdomain, reply{}
	}
	svc, ok := r.lister.Service(ns, name)
	if !ok || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nxdomain, reply{}
	}
	port, proto = port[1:], proto[1:]
	exists := false
	for _, p := range svc.Spec.Ports {
		exists = exists || (p.Name == port && strings.EqualFold(protocol(p.Protocol), proto))
	}
	if !exists {
		return nxdomain, reply{}
	}
	if q.Qtype != dns.TypeSRV && q.Qtype != dns.TypeANY {
		return found, reply{}
	}
	return found, r.srvRecords(q, svc, ns, name, port, proto)
}

// srvRecords returns the SRV records of svc's named ports (only the port
// named port with protocol proto when they are not ""), each pointing at
// the Service's name, or at each ready endpoint's name for a headless
// Service, with the targets' addresses as additional records.
func (r *resolver) srvRecords(q dns.Question, svc *corev1.Service, ns, name, port, proto string) reply {
	var rep reply
	svcName := name + "." + ns + ".svc." + r.zone
	type target struct {
		host string
		port uint16
		ip   netip.Addr
	}
	var targets []target
	if headless(svc) {
		r.forEachReadyPort(ns, name, func(a corev1.EndpointAddress, p corev1.EndpointPort) {
			if p.Name == "" || (port != "" && (p.Name != port || !strings.EqualFold(protocol(p.Protocol), proto))) {
				return
			}
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				return
			}
			targets = append(targets, target{host: endpointHost(a) + "." + svcName, port: uint16(p.Port), ip: ip})
		})
	} else {
		for _, p := range svc.Spec.Ports {
			if p.Name == "" || (port != "" && (p.Name != port || !strings.EqualFold(protocol(p.Protocol), proto))) {
				continue
			}
			targets = append(targets, target{host: svcName, port: uint16(p.Port)})
		}
	}
	if len(targets) == 0 {
		return rep
	}
	type srvKey struct {
		host string
		port uint16
	}
	dup := map[srvKey]bool{}
	n := 0
	for _, t := range targets {
		if !dup[srvKey{t.host, t.port}] {
			dup[srvKey{t.host, t.port}] = true
			targets[n] = t
			n++
		}
	}
	targets = targets[:n]
	weight := uint16(max(100/len(targets), 1))
	seen := map[string]bool{}
	for _, t := range targets {
		rep.answer = append(rep.answer, &dns.SRV{Hdr: r.hdr(q.Name, dns.TypeSRV), Priority: 0, Weight: weight, Port: t.port, Target: t.host})
		if seen[t.host] {
			continue
		}
		seen[t.host] = true
		if t.ip.IsValid() {
			if rr := r.addrRR(t.host, dns.TypeANY, t.ip); rr != nil {
				rep.extra = append(rep.extra, rr)
			}
			continue
		}
		for _, ip := range clusterIPs(svc) {
			if rr := r.addrRR(t.host, dns.TypeANY, ip); rr != nil {
				rep.extra = append(rep.extra, rr)
			}
		}
	}
	return rep
}

// pod answers <a-b-c-d>.<ns>.pod.<zone> with the address its first label
// spells, as CoreDNS's "pods insecure" mode (Kubernetes' default) does:
// any well-formed address answers, whether or not a pod has it.
func (r *resolver) pod(q dns.Question, dashed string) (outcome, reply) {
	ip, ok := parseDashed(dashed)
	if !ok {
		return nxdomain, reply{}
	}
	var rep reply
	if rr := r.addrRR(q.Name, q.Qtype, ip); rr != nil {
		rep.answer = []dns.RR{rr}
	}
	return found, rep
}

// parseDashed parses "10-1-2-3" (IPv4) or "fd00--1" (IPv6, colons as
// dashes).
func parseDashed(s string) (netip.Addr, bool) {
	if strings.Count(s, "-") == 3 {
		if ip, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ".")); err == nil && ip.Is4() {
			return ip, true
		}
	}
	ip, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ":"))
	if err != nil || !ip.Is6() || ip.Zone() != "" || ip.Is4In6() {
		return netip.Addr{}, false
	}
	return ip, true
}

// dashed writes ip with dashes for its dots or colons: the DNS label of
// an endpoint without a hostname.
func dashed(ip string) string {
	return strings.NewReplacer(".", "-", ":", "-").Replace(ip)
}

// endpointHost is the DNS label of an endpoint address: its hostname,
// else its IP with dashes.
func endpointHost(a corev1.EndpointAddress) string {
	if a.Hostname != "" {
		return a.Hostname
	}
	return dashed(a.IP)
}

// forEachReady calls f for every ready address of the Endpoints ns/name.
func (r *resolver) forEachReady(ns, name string, f func(corev1.EndpointAddress)) {
	ep, ok := r.lister.Endpoints(ns, name)
	if !ok {
		return
	}
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			f(a)
		}
	}
}

// forEachReadyPort calls f for every ready address and port of the
// Endpoints ns/name.
func (r *resolver) forEachReadyPort(ns, name string, f func(corev1.EndpointAddress, corev1.EndpointPort)) {
	ep, ok := r.lister.Endpoints(ns, name)
	if !ok {
		return
	}
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			for _, p := range s.Ports {
				f(a, p)
			}
		}
	}
}

// reverse answers a PTR question about the address name spells
// (d.c.b.a.in-addr.arpa. or the nibbles of ip6.arpa.) when it is a
// cluster IP or a headless Service's ready endpoint; ok is false when the
// address is not the cluster's (the server forwards the question).
func (r *resolver) reverse(q dns.Question, lname string) (rep reply, ok bool) {
	rl, isRev := r.lister.(ReverseLister)
	if !isRev || !r.lister.Synced() {
		return rep, false
	}
	ip, valid := parseReverse(lname)
	if !valid {
		return rep, false
	}
	var targets []string
	for _, svc := range rl.ServicesByIP(ip.String()) {
		if !headless(svc) {
			targets = append(targets, svc.Name+"."+svc.Namespace+".svc."+r.zone)
		}
	}
	for _, ep := range rl.EndpointsByIP(ip.String()) {
		if svc, ok := r.lister.Service(ep.Namespace, ep.Name); !ok || !headless(svc) {
			continue
		}
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				if other, err := netip.ParseAddr(a.IP); err == nil && other == ip {
					targets = append(targets, endpointHost(a)+"."+ep.Name+"."+ep.Namespace+".svc."+r.zone)
				}
			}
		}
	}
	if len(targets) == 0 {
		return rep, false
	}
	slices.Sort(targets)
	if q.Qtype == dns.TypePTR || q.Qtype == dns.TypeANY {
		for _, t := range slices.Compact(targets) {
			rep.answer = append(rep.answer, &dns.PTR{Hdr: r.hdr(q.Name, dns.TypePTR), Ptr: t})
		}
	}
	return rep, true
}

// parseReverse parses a lower-case reverse name: "4.3.2.1.in-addr.arpa."
// is 1.2.3.4, 32 nibbles under ip6.arpa. an IPv6 address.
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(parts)
		ip, err := netip.ParseAddr(strings.Join(parts, "."))
		return ip, err == nil && ip.Is4()
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, p := range parts {
			if len(p) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", p[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			pos := 31 - i // parts run from the last nibble to the first
			if pos%2 == 0 {
				b[pos/2] |= byte(v) << 4
			} else {
				b[pos/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// headless reports whether svc has no cluster IP (clusterIP: None).
func headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// clusterIPs returns the parsed cluster IPs of svc (clusterIPs, else
// clusterIP), none for a headless Service or one without an address yet.
func clusterIPs(svc *corev1.Service) []netip.Addr {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// protocol is p, or TCP when unset (the API's default).
func protocol(p corev1.Protocol) string {
	if p == "" {
		return string(corev1.ProtocolTCP)
	}
	return string(p)
}

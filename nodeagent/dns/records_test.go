package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeLister is a Lister over maps: the fake cache of the table tests.
type fakeLister struct {
	mu        sync.Mutex
	services  map[string]*corev1.Service
	endpoints map[string]*corev1.Endpoints
	unsynced  bool
}

func newFakeLister(objs ...any) *fakeLister {
	l := &fakeLister{services: map[string]*corev1.Service{}, endpoints: map[string]*corev1.Endpoints{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			l.services[o.Namespace+"/"+o.Name] = o
		case *corev1.Endpoints:
			l.endpoints[o.Namespace+"/"+o.Name] = o
		default:
			panic(fmt.Sprintf("fakeLister: %T", o))
		}
	}
	return l
}

func (l *fakeLister) Service(ns, name string) (*corev1.Service, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.services[ns+"/"+name]
	return s, ok
}

func (l *fakeLister) Endpoints(ns, name string) (*corev1.Endpoints, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.endpoints[ns+"/"+name]
	return e, ok
}

func (l *fakeLister) Synced() bool { return !l.unsynced }

func service(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, Ports: ports}}
}

func port(name string, proto corev1.Protocol, n int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: n}
}

// endpoints makes an Endpoints with one subset: ready addresses ("ip" or
// "ip=hostname"), not-ready ones, and ports ("name/proto/port").
func endpoints(ns, name string, ready, notReady []string, ports ...string) *corev1.Endpoints {
	var s corev1.EndpointSubset
	for _, a := range ready {
		ip, host, _ := strings.Cut(a, "=")
		s.Addresses = append(s.Addresses, corev1.EndpointAddress{IP: ip, Hostname: host})
	}
	for _, a := range notReady {
		s.NotReadyAddresses = append(s.NotReadyAddresses, corev1.EndpointAddress{IP: a})
	}
	for _, p := range ports {
		f := strings.Split(p, "/")
		var n int32
		fmt.Sscan(f[2], &n)
		s.Ports = append(s.Ports, corev1.EndpointPort{Name: f[0], Protocol: corev1.Protocol(f[1]), Port: n})
	}
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: []corev1.EndpointSubset{s}}
}

// clusterFixture is the cluster the table tests ask about.
func clusterFixture() *fakeLister {
	dual := service("prod", "dual", "10.96.0.20", port("http", "", 80))
	dual.Spec.ClusterIPs = []string{"10.96.0.20", "fd00::20"}
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.Example.com"}}
	inner := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "alias"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web.prod.svc.cluster.local"}}
	return newFakeLister(
		service("prod", "web", "10.96.0.10", port("http", corev1.ProtocolTCP, 80), port("dns", corev1.ProtocolUDP, 53), port("", "", 8080)),
		endpoints("prod", "web", []string{"10.244.1.5"}, nil, "http/TCP/8080"),
		service("demo", "hello", "10.96.0.11"),
		service("prod", "pending", ""),
		dual, ext, inner,
		service("prod", "db", corev1.ClusterIPNone, port("pg", corev1.ProtocolTCP, 5432)),
		endpoints("prod", "db", []string{"10.244.1.7=db-0", "10.244.2.9", "fd00::9"}, []string{"10.244.3.3"}, "pg/TCP/5432"),
		service("prod", "empty", corev1.ClusterIPNone),
	)
}

// answerText renders a reply as "RCODE|answer;answer|authority types|extra;extra" with
// TTLs and classes left out, sections sorted.
func answerText(m *dns.Msg) string {
	rrs := func(rr []dns.RR) string {
		var out []string
		for _, r := range rr {
			f := strings.Fields(r.String())
			out = append(out, strings.Join(append([]string{f[0], f[3]}, f[4:]...), " "))
		}
		sort.Strings(out)
		return strings.Join(out, ";")
	}
	var ns []string
	for _, r := range m.Ns {
		ns = append(ns, dns.TypeToString[r.Header().Rrtype])
	}
	return dns.RcodeToString[m.Rcode] + "|" + rrs(m.Answer) + "|" + strings.Join(ns, ",") + "|" + rrs(m.Extra)
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	return m
}

func TestAnswers(t *testing.T) {
	const c = ".prod.svc.cluster.local."
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  string
	}{
		{"ClusterIP A", "web" + c, dns.TypeA, "NOERROR|web.prod.svc.cluster.local. A 10.96.0.10||"},
		{"case kept", "WEB.Prod.svc.cluster.local.", dns.TypeA, "NOERROR|WEB.Prod.svc.cluster.local. A 10.96.0.10||"},
		{"other namespace", "hello.demo.svc.cluster.local.", dns.TypeA, "NOERROR|hello.demo.svc.cluster.local. A 10.96.0.11||"},
		{"IPv4 service, AAAA: NODATA", "web" + c, dns.TypeAAAA, "NOERROR||SOA|"},
		{"dual stack A", "dual" + c, dns.TypeA, "NOERROR|dual.prod.svc.cluster.local. A 10.96.0.20||"},
		{"dual stack AAAA", "dual" + c, dns.TypeAAAA, "NOERROR|dual.prod.svc.cluster.local. AAAA fd00::20||"},
		{"no cluster IP yet", "pending" + c, dns.TypeA, "NOERROR||SOA|"},
		{"unknown service", "nope" + c, dns.TypeA, "NXDOMAIN||SOA|"},
		{"unknown namespace", "web.nope.svc.cluster.local.", dns.TypeA, "NXDOMAIN||SOA|"},
		{"MX of a service: NODATA", "web" + c, dns.TypeMX, "NOERROR||SOA|"},
		{"headless: ready endpoints only", "db" + c, dns.TypeA,
			"NOERROR|db.prod.svc.cluster.local. A 10.244.1.7;db.prod.svc.cluster.local. A 10.244.2.9||"},
		{"headless AAAA", "db" + c, dns.TypeAAAA, "NOERROR|db.prod.svc.cluster.local. AAAA fd00::9||"},
		{"headless without endpoints", "empty" + c, dns.TypeA, "NOERROR||SOA|"},
		{"endpoint by hostname", "db-0.db" + c, dns.TypeA, "NOERROR|db-0.db.prod.svc.cluster.local. A 10.244.1.7||"},
		{"endpoint by dashed IP", "10-244-2-9.db" + c, dns.TypeA, "NOERROR|10-244-2-9.db.prod.svc.cluster.local. A 10.244.2.9||"},
		{"endpoint with hostname by dashed IP", "10-244-1-7.db" + c, dns.TypeA, "NOERROR|10-244-1-7.db.prod.svc.cluster.local. A 10.244.1.7||"},
		{"not-ready endpoint", "10-244-3-3.db" + c, dns.TypeA, "NXDOMAIN||SOA|"},
		{"endpoint name of a ClusterIP service", "10-244-1-5.web" + c, dns.TypeA, "NXDOMAIN||SOA|"},
		{"SRV of a named port", "_http._tcp.web" + c, dns.TypeSRV,
			"NOERROR|_http._tcp.web.prod.svc.cluster.local. SRV 0 100 80 web.prod.svc.cluster.local.||web.prod.svc.cluster.local. A 10.96.0.10"},
		{"SRV protocol case", "_dns._UDP.web" + c, dns.TypeSRV,
			"NOERROR|_dns._UDP.web.prod.svc.cluster.local. SRV 0 100 53 web.prod.svc.cluster.local.||web.prod.svc.cluster.local. A 10.96.0.10"},
		{"SRV with the wrong protocol", "_dns._tcp.web" + c, dns.TypeSRV, "NXDOMAIN||SOA|"},
		{"SRV of an unknown port", "_nope._tcp.web" + c, dns.TypeSRV, "NXDOMAIN||SOA|"},
		{"SRV name without underscores", "http.tcp.web" + c, dns.TypeSRV, "NXDOMAIN||SOA|"},
		{"A of an SRV name", "_http._tcp.web" + c, dns.TypeA, "NOERROR||SOA|"},
		{"SRV of the service: every named port", "web" + c, dns.TypeSRV,
			"NOERROR|web.prod.svc.cluster.local. SRV 0 50 53 web.prod.svc.cluster.local.;web.prod.svc.cluster.local. SRV 0 50 80 web.prod.svc.cluster.local.||web.prod.svc.cluster.local. A 10.96.0.10"},
		{"headless SRV: one per ready endpoint", "_pg._tcp.db" + c, dns.TypeSRV,
			"NOERROR|_pg._tcp.db.prod.svc.cluster.local. SRV 0 33 5432 10-244-2-9.db.prod.svc.cluster.local.;" +
				"_pg._tcp.db.prod.svc.cluster.local. SRV 0 33 5432 db-0.db.prod.svc.cluster.local.;" +
				"_pg._tcp.db.prod.svc.cluster.local. SRV 0 33 5432 fd00--9.db.prod.svc.cluster.local.||" +
				"10-244-2-9.db.prod.svc.cluster.local. A 10.244.2.9;db-0.db.prod.svc.cluster.local. A 10.244.1.7;fd00--9.db.prod.svc.cluster.local. AAAA fd00::9"},
		{"ExternalName CNAME", "ext" + c, dns.TypeCNAME, "NOERROR|ext.prod.svc.cluster.local. CNAME db.example.com.||"},
		{"ExternalName in the cluster, followed", "alias" + c, dns.TypeA,
			"NOERROR|alias.prod.svc.cluster.local. CNAME web.prod.svc.cluster.local.;web.prod.svc.cluster.local. A 10.96.0.10||"},
		{"pod A", "10-244-1-5.prod.pod.cluster.local.", dns.TypeA, "NOERROR|10-244-1-5.prod.pod.cluster.local. A 10.244.1.5||"},
		{"pod AAAA", "fd00--5.prod.pod.cluster.local.", dns.TypeAAAA, "NOERROR|fd00--5.prod.pod.cluster.local. AAAA fd00::5||"},
		{"pod, IPv4 name, AAAA", "10-244-1-5.prod.pod.cluster.local.", dns.TypeAAAA, "NOERROR||SOA|"},
		{"pod, bad address", "10-244-1-500.prod.pod.cluster.local.", dns.TypeA, "NXDOMAIN||SOA|"},
		{"pod, not an address", "web.prod.pod.cluster.local.", dns.TypeA, "NXDOMAIN||SOA|"},
		{"namespace: empty non-terminal", "prod.svc.cluster.local.", dns.TypeA, "NOERROR||SOA|"},
		{"svc: empty non-terminal", "svc.cluster.local.", dns.TypeA, "NOERROR||SOA|"},
		{"search path miss (hello.demo + demo.svc)", "hello.demo.demo.svc.cluster.local.", dns.TypeA, "NXDOMAIN||SOA|"},
		{"too deep", "a.b.c.d.e.f.svc.cluster.local.", dns.TypeA, "NXDOMAIN||SOA|"},
		{"other subdomain", "web.prod.cluster.local.", dns.TypeA, "NXDOMAIN||SOA|"},
		{"apex SOA", "cluster.local.", dns.TypeSOA,
			"NOERROR|cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5||"},
	}
	s, err := New(Config{Addr: "127.0.0.1:0", Lister: clusterFixture()})
	if err != nil {
		t.Fatal(err)
	}
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := query(tt.qname, tt.qtype)
			m := s.answer(context.Background(), client, false, req)
			if got := answerText(m); got != tt.want {
				t.Errorf("%s %s:\n got %s\nwant %s", tt.qname, dns.TypeToString[tt.qtype], got, tt.want)
			}
			if m.Id != req.Id || !m.Response || (m.Rcode != dns.RcodeServerFailure && !m.Authoritative) {
				t.Errorf("header: id %d (want %d), qr %v, aa %v", m.Id, req.Id, m.Response, m.Authoritative)
			}
			for _, rr := range m.Answer {
				if rr.Header().Ttl != 5 {
					t.Errorf("TTL %d, want 5: %s", rr.Header().Ttl, rr)
				}
			}
		})
	}
}

func TestAnswerRefusalsAndErrors(t *testing.T) {
	prefix := mustPrefixes(t, "10.244.0.0/16", "127.0.0.0/8")
	tests := []struct {
		name   string
		lister *fakeLister
		client net.Addr
		req    func() *dns.Msg
		want   int
	}{
		{"not synced: SERVFAIL, not NXDOMAIN", &fakeLister{unsynced: true}, &net.UDPAddr{IP: net.IPv4(10, 244, 1, 5)},
			func() *dns.Msg { return query("web.prod.svc.cluster.local.", dns.TypeA) }, dns.RcodeServerFailure},
		{"client outside Clients", clusterFixture(), &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1)},
			func() *dns.Msg { return query("web.prod.svc.cluster.local.", dns.TypeA) }, dns.RcodeRefused},
		{"client outside Clients over TCP", clusterFixture(), &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)},
			func() *dns.Msg { return query("example.com.", dns.TypeA) }, dns.RcodeRefused},
		{"IPv4-mapped client inside", clusterFixture(), &net.UDPAddr{IP: net.ParseIP("::ffff:10.244.1.5")},
			func() *dns.Msg { return query("web.prod.svc.cluster.local.", dns.TypeA) }, dns.RcodeSuccess},
		{"not a query", clusterFixture(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
			func() *dns.Msg {
				m := query("web.prod.svc.cluster.local.", dns.TypeA)
				m.Opcode = dns.OpcodeUpdate
				return m
			},
			dns.RcodeNotImplemented},
		{"two questions", clusterFixture(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
			func() *dns.Msg {
				m := query("web.prod.svc.cluster.local.", dns.TypeA)
				m.Question = append(m.Question, m.Question[0])
				return m
			}, dns.RcodeFormatError},
		{"no upstream: SERVFAIL", clusterFixture(), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)},
			func() *dns.Msg { return query("example.com.", dns.TypeA) }, dns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Addr: "127.0.0.1:0", Lister: tt.lister, Clients: prefix})
			if err != nil {
				t.Fatal(err)
			}
			m := s.answer(context.Background(), tt.client, false, tt.req())
			if m.Rcode != tt.want {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.want])
			}
		})
	}
}

func TestNewChecksConfig(t *testing.T) {
	l := newFakeLister()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no lister", Config{Addr: "127.0.0.1:0"}, "Lister is required"},
		{"no addr", Config{Lister: l}, "Addr is required"},
		{"addr without port", Config{Lister: l, Addr: "127.0.0.1"}, "Config.Addr"},
		{"bad domain", Config{Lister: l, Addr: "127.0.0.1:0", Domain: "a..b"}, "not a domain name"},
		{"bad upstream", Config{Lister: l, Addr: "127.0.0.1:0", Upstreams: []string{"192.0.2.1"}}, "Config.Upstreams"},
		{"fine", Config{Lister: l, Addr: "127.0.0.1:0", Domain: "Corp.Example.", Upstreams: []string{"127.0.0.1:53"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCustomDomain(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Domain: "Corp.Example", Lister: clusterFixture()})
	if err != nil {
		t.Fatal(err)
	}
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	m := s.answer(context.Background(), client, false, query("web.prod.svc.corp.example.", dns.TypeA))
	if got, want := answerText(m), "NOERROR|web.prod.svc.corp.example. A 10.96.0.10||"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// cluster.local is no longer the zone: forwarded, and no upstream.
	m = s.answer(context.Background(), client, false, query("web.prod.svc.cluster.local.", dns.TypeA))
	if m.Rcode != dns.RcodeServerFailure {
		t.Errorf("cluster.local with domain corp.example: %s, want SERVFAIL (forwarded, no upstream)", dns.RcodeToString[m.Rcode])
	}
}

func TestParseDashed(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"10-0-0-1", "10.0.0.1"}, {"fd00--1", "fd00::1"}, {"2001-db8-0-0-0-0-0-1", "2001:db8::1"},
		{"10-0-0", ""}, {"1-2-3-4-5", ""}, {"web", ""}, {"", ""}, {"g--1", ""}, {"fe80--1-", ""}, {"10-0-0-256", ""},
	}
	for _, tt := range tests {
		ip, ok := parseDashed(tt.in)
		got := ""
		if ok {
			got = ip.String()
		}
		if got != tt.want {
			t.Errorf("parseDashed(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSRVHeadlessDeduplicates(t *testing.T) {
	ep := endpoints("prod", "db", []string{"10.244.1.7"}, nil, "pg/TCP/5432")
	ep.Subsets = append(ep.Subsets, ep.Subsets[0]) // the same address and port twice
	s, err := New(Config{Addr: "127.0.0.1:0", Lister: newFakeLister(service("prod", "db", corev1.ClusterIPNone, port("pg", "", 5432)), ep)})
	if err != nil {
		t.Fatal(err)
	}
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"_pg._tcp.db.prod.svc.cluster.local.", dns.TypeSRV}, {"db.prod.svc.cluster.local.", dns.TypeA}} {
		m := s.answer(context.Background(), client, false, query(q.name, q.qtype))
		if len(m.Answer) != 1 || len(m.Extra) > 1 {
			t.Errorf("%s: %d answers and %d extra, want 1 and at most 1: %v", q.name, len(m.Answer), len(m.Extra), m)
		}
	}
}

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// reverseLister is a fakeLister that also finds objects by IP.
type reverseLister struct{ *fakeLister }

func (l reverseLister) ServicesByIP(ip string) []*corev1.Service {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*corev1.Service
	for _, s := range l.services {
		for _, c := range clusterIPs(s) {
			if c.String() == ip {
				out = append(out, s)
			}
		}
	}
	return out
}

func (l reverseLister) EndpointsByIP(ip string) []*corev1.Endpoints {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*corev1.Endpoints
	for _, e := range l.endpoints {
		for _, s := range e.Subsets {
			for _, a := range s.Addresses {
				if a.IP == ip {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

func TestReverse(t *testing.T) {
	up := startUpstream(t)
	tests := []struct {
		name    string
		reverse bool // the Lister is a ReverseLister
		qname   string
		qtype   uint16
		want    string
	}{
		{"cluster IP", true, "10.0.96.10.in-addr.arpa.", dns.TypePTR, "NOERROR|10.0.96.10.in-addr.arpa. PTR web.prod.svc.cluster.local.||"},
		{"IPv6 cluster IP", true, "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR,
			"NOERROR|0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. PTR dual.prod.svc.cluster.local.||"},
		{"headless endpoint with hostname", true, "7.1.244.10.in-addr.arpa.", dns.TypePTR,
			"NOERROR|7.1.244.10.in-addr.arpa. PTR db-0.db.prod.svc.cluster.local.||"},
		{"headless endpoint without", true, "9.2.244.10.in-addr.arpa.", dns.TypePTR,
			"NOERROR|9.2.244.10.in-addr.arpa. PTR 10-244-2-9.db.prod.svc.cluster.local.||"},
		{"ClusterIP Service's endpoint: forwarded", true, "5.1.244.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN|||"},
		{"not the cluster's: forwarded", true, "1.2.0.192.in-addr.arpa.", dns.TypePTR, "NXDOMAIN|||"},
		{"A of a cluster IP's reverse name", true, "10.0.96.10.in-addr.arpa.", dns.TypeA, "NOERROR|||"},
		{"malformed: forwarded", true, "10.96.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN|||"},
		{"no ReverseLister: forwarded", false, "10.0.96.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN|||"},
	}
	client := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Lister = clusterFixture()
			if tt.reverse {
				l = reverseLister{clusterFixture()}
			}
			s, err := New(Config{Addr: "127.0.0.1:0", Lister: l, Upstreams: []string{up.addr}})
			if err != nil {
				t.Fatal(err)
			}
			if got := answerText(s.answer(context.Background(), client, false, query(tt.qname, tt.qtype))); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseReverse(t *testing.T) {
	for _, ip := range []string{"10.96.0.10", "0.0.0.0", "fd00::20", "2001:db8::1:2:3"} {
		name, err := dns.ReverseAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseReverse(name)
		if !ok || got.String() != ip {
			t.Errorf("parseReverse(%s) = %v, %v; want %s", name, got, ok, ip)
		}
	}
	for _, bad := range []string{"1.2.3.in-addr.arpa.", "a.2.3.4.in-addr.arpa.", "300.2.3.4.in-addr.arpa.", "0.ip6.arpa.", "example.com."} {
		if got, ok := parseReverse(bad); ok {
			t.Errorf("parseReverse(%s) = %v, want not ok", bad, got)
		}
	}
}

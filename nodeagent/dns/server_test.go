package dns

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// fakeUpstream is a resolver on 127.0.0.1 (UDP and TCP on one port)
// standing in for the host's: never a real resolver.
type fakeUpstream struct {
	addr     string
	udp, tcp atomic.Int64 // queries received per transport
}

// startUpstream serves example.com (A 192.0.2.1), db.example.com (A
// 192.0.2.2) and big.example.com (60 TXT records, too big for UDP without
// EDNS0); anything else is NXDOMAIN.
func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		rr := func(s string) dns.RR {
			r, err := dns.NewRR(s)
			if err != nil {
				panic(err)
			}
			return r
		}
		switch strings.ToLower(q.Name) {
		case "example.com.":
			if q.Qtype == dns.TypeA {
				m.Answer = []dns.RR{rr(q.Name + " 60 IN A 192.0.2.1")}
			}
		case "db.example.com.":
			if q.Qtype == dns.TypeA {
				m.Answer = []dns.RR{rr(q.Name + " 60 IN A 192.0.2.2")}
			}
		case "big.example.com.":
			for i := range 60 {
				m.Answer = append(m.Answer, rr(fmt.Sprintf("%s 60 IN TXT \"record %02d of a long answer\"", q.Name, i)))
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
			size = dns.MaxMsgSize
		}
		m.Truncate(size)
		_ = w.WriteMsg(m)
	})
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe() //nolint:errcheck // ends with Shutdown
		testutil.Receive(t, started, 10*time.Second, "the fake upstream to start")
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// closedPort returns a loopback UDP address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// startServer runs a Server on 127.0.0.1 port 0 until the test ends and
// returns it with its address.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testutil.Start(t, s.Run)
	udp, tcp := s.Addrs(ctx)
	if udp == nil || udp.String() != tcp.String() {
		t.Fatalf("server addresses: udp %v, tcp %v", udp, tcp)
	}
	return s, udp.String()
}

// bigHeadless is a headless Service with n ready endpoints.
func bigHeadless(n int) (*corev1.Service, *corev1.Endpoints) {
	var ips []string
	for i := range n {
		ips = append(ips, fmt.Sprintf("10.244.%d.%d", i/250, i%250+1))
	}
	return service("prod", "many", corev1.ClusterIPNone), endpoints("prod", "many", ips, nil)
}

func TestServerUDPAndTCP(t *testing.T) {
	up := startUpstream(t)
	svc, ep := bigHeadless(100)
	l := clusterFixture()
	l.services["prod/many"], l.endpoints["prod/many"] = svc, ep
	_, addr := startServer(t, Config{Lister: l, Upstreams: []string{closedPort(t), up.addr},
		Clients: mustPrefixes(t, "127.0.0.0/8"), ForwardTimeout: time.Second})

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		edns      uint16 // 0: no EDNS0
		rcode     int
		answers   int // -1: do not check
		truncated bool
		contains  string
	}{
		{"service", "web.prod.svc.cluster.local.", dns.TypeA, 0, dns.RcodeSuccess, 1, false, "10.96.0.10"},
		{"headless, other case", "DB.prod.svc.cluster.local.", dns.TypeA, 0, dns.RcodeSuccess, 2, false, "10.244.2.9"},
		{"unknown", "nope.prod.svc.cluster.local.", dns.TypeA, 0, dns.RcodeNameError, 0, false, ""},
		{"forwarded", "example.com.", dns.TypeA, 0, dns.RcodeSuccess, 1, false, "192.0.2.1"},
		{"forwarded NXDOMAIN", "nope.example.com.", dns.TypeA, 0, dns.RcodeNameError, 0, false, ""},
		{"ExternalName chased upstream", "ext.prod.svc.cluster.local.", dns.TypeA, 0, dns.RcodeSuccess, 2, false, "192.0.2.2"},
		{"forwarded big answer", "big.example.com.", dns.TypeTXT, 4096, dns.RcodeSuccess, -1, true, ""},
		{"100 endpoints without EDNS0", "many.prod.svc.cluster.local.", dns.TypeA, 0, dns.RcodeSuccess, -1, true, ""},
		{"100 endpoints with EDNS0 4096 (cut at 1232)", "many.prod.svc.cluster.local.", dns.TypeA, 4096, dns.RcodeSuccess, -1, true, ""},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				c := &dns.Client{Net: network, Timeout: 5 * time.Second}
				req := query(tt.qname, tt.qtype)
				if tt.edns > 0 {
					req.SetEdns0(tt.edns, false)
				}
				m, _, err := c.Exchange(req, addr)
				if err != nil {
					t.Fatal(err)
				}
				if m.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.rcode])
				}
				opts := 0
				for _, rr := range m.Extra {
					if rr.Header().Rrtype == dns.TypeOPT {
						opts++
					}
				}
				if want := map[bool]int{true: 1, false: 0}[tt.edns > 0]; opts != want {
					t.Errorf("%d OPT records, want %d", opts, want)
				}
				wantTC := tt.truncated && network == "udp"
				if m.Truncated != wantTC {
					t.Errorf("truncated %v, want %v", m.Truncated, wantTC)
				}
				m.Compress = true // as sent
				if network == "udp" && m.Len() > min(max(int(tt.edns), dns.MinMsgSize), 1232) {
					t.Errorf("UDP answer of %d bytes, client accepts %d", m.Len(), max(int(tt.edns), dns.MinMsgSize))
				}
				switch {
				case tt.truncated && network == "tcp":
					if want := map[uint16]int{dns.TypeTXT: 60, dns.TypeA: 100}[tt.qtype]; len(m.Answer) != want {
						t.Errorf("over TCP: %d answers, want all %d", len(m.Answer), want)
					}
				case tt.answers >= 0 && len(m.Answer) != tt.answers:
					t.Errorf("%d answers, want %d: %v", len(m.Answer), tt.answers, m.Answer)
				}
				if tt.contains != "" && !strings.Contains(fmt.Sprint(m.Answer), tt.contains) {
					t.Errorf("answer %v lacks %s", m.Answer, tt.contains)
				}
			})
		}
	}
	if up.udp.Load() == 0 || up.tcp.Load() == 0 {
		t.Errorf("upstream saw %d UDP and %d TCP queries: forwarding should keep the client's transport", up.udp.Load(), up.tcp.Load())
	}
}

func TestServerEDNSFits(t *testing.T) {
	svc, ep := bigHeadless(50)
	_, addr := startServer(t, Config{Lister: newFakeLister(svc, ep)})
	req := query("many.prod.svc.cluster.local.", dns.TypeA)
	req.SetEdns0(1232, false)
	m, _, err := (&dns.Client{Net: "udp"}).Exchange(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	if m.Truncated || len(m.Answer) != 50 || m.IsEdns0() == nil {
		t.Errorf("50 A records with EDNS0 1232: truncated %v, %d answers, EDNS0 %v; want all in one UDP answer with EDNS0",
			m.Truncated, len(m.Answer), m.IsEdns0() != nil)
	}
}

func TestServerRefusesOutsiders(t *testing.T) {
	up := startUpstream(t)
	// Only 10.0.0.0/8 may ask: the test's loopback client is an outsider.
	_, addr := startServer(t, Config{Lister: clusterFixture(), Upstreams: []string{up.addr}, Clients: mustPrefixes(t, "10.0.0.0/8")})
	for _, name := range []string{"example.com.", "web.prod.svc.cluster.local."} {
		m, _, err := (&dns.Client{Net: "udp"}).Exchange(query(name, dns.TypeA), addr)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeRefused || len(m.Answer) != 0 {
			t.Errorf("%s from an outsider: %s with %d answers, want REFUSED", name, dns.RcodeToString[m.Rcode], len(m.Answer))
		}
	}
	if n := up.udp.Load(); n != 0 {
		t.Errorf("an outsider's query reached the upstream %d times", n)
	}
}

func TestServerUpstreamDown(t *testing.T) {
	_, addr := startServer(t, Config{Lister: clusterFixture(), Upstreams: []string{closedPort(t)}, ForwardTimeout: 500 * time.Millisecond})
	for _, network := range []string{"udp", "tcp"} {
		m, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(query("example.com.", dns.TypeA), addr)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s, upstream down: %s, want SERVFAIL", network, dns.RcodeToString[m.Rcode])
		}
		// Cluster names do not depend on the upstream.
		m, _, err = (&dns.Client{Net: network}).Exchange(query("web.prod.svc.cluster.local.", dns.TypeA), addr)
		if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("%s, upstream down, cluster name: %v %v", network, m, err)
		}
	}
}

func TestServerSeesCacheChanges(t *testing.T) {
	l := clusterFixture()
	_, addr := startServer(t, Config{Lister: l})
	ask := func() string {
		m, _, err := (&dns.Client{Net: "udp"}).Exchange(query("late.prod.svc.cluster.local.", dns.TypeA), addr)
		if err != nil {
			t.Fatal(err)
		}
		return answerText(m)
	}
	if got := ask(); !strings.HasPrefix(got, "NXDOMAIN") {
		t.Fatalf("before the Service exists: %s", got)
	}
	l.mu.Lock()
	l.services["prod/late"] = service("prod", "late", "10.96.0.99")
	l.mu.Unlock()
	if got, want := ask(), "NOERROR|late.prod.svc.cluster.local. A 10.96.0.99||"; got != want {
		t.Errorf("after: %s, want %s", got, want)
	}
}

func TestServerRunEndsWithContext(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Lister: newFakeLister()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	udp, _ := s.Addrs(ctx)
	cancel()
	if err := testutil.Receive(t, done, 10*time.Second, "Run to return"); err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	// The port is free again.
	pc, err := net.ListenPacket("udp", udp.String())
	if err != nil {
		t.Errorf("port still bound after Run returned: %v", err)
	} else {
		pc.Close()
	}
}

func TestServerListenError(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := New(Config{Addr: pc.LocalAddr().String(), Lister: newFakeLister()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on udp") {
		t.Errorf("Run on a taken port: %v, want a listen error", err)
	}
}

package proxy

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// scaleSet returns n Services with m ready endpoints each.
func scaleSet(n, m int) ([]*corev1.Service, []*corev1.Endpoints) {
	var svcs []*corev1.Service
	var eps []*corev1.Endpoints
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		s := svc("bench", name, fmt.Sprintf("10.233.%d.%d", i/250, 1+i%250), corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP})
		if i%10 == 0 {
			s = nodePort(s, int32(30000+i))
		}
		svcs = append(svcs, s)
		var ips []string
		for j := range m {
			ips = append(ips, fmt.Sprintf("10.234.%d.%d", i/20, 1+(i%20)*12+j))
		}
		eps = append(eps, readyEps2("bench", name, ips))
	}
	return svcs, eps
}

func readyEps2(ns, name string, ips []string) *corev1.Endpoints {
	return eps(ns, name, ips, nil, corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolTCP})
}

// percentile returns the nearest-rank p-th percentile of d (sorting d): the
// smallest sample that at least p% of the samples do not exceed.
func percentile(d []time.Duration, p int) time.Duration {
	slices.Sort(d)
	rank := (len(d)*p + 99) / 100 // ceil(n*p/100), 1-based
	return d[max(rank, 1)-1]
}

// splitRule splits a restore rule line into arguments, honouring double
// quotes (comments).
func splitRule(line string) []string {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for _, r := range line {
		switch {
		case r == '"':
			inQ, have = !inQ, true
		case r == ' ' && !inQ:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// BenchmarkScale programs 1,000 and 5,000 Services x 10 endpoints, in each
// mode, inside a test network namespace: a full sync, one endpoint change,
// and the latency of a new connection to the first and to the last Service
// of the table. For comparison, iptables/1000/go-iptables-append appends
// the same rules one by one through go-iptables (the first appendSample
// rules, extrapolated).
func BenchmarkScale(b *testing.B) {
	testenv.E2E(b, testenv.Root(), testenv.Binary("iptables-restore"), testenv.Binary("nft"), testenv.Binary("ip"))
	for _, n := range []int{1000, 5000} {
		svcs, eps := scaleSet(n, 10)
		for _, mode := range []Mode{ModeIPTables, ModeNFTables} {
			b.Run(fmt.Sprintf("%s/%d", mode, n), func(b *testing.B) { benchMode(b, mode, svcs, eps) })
		}
	}
	benchAppend(b)
}

// benchProxier returns a Proxier in mode for svcs and eps, programming a new
// network namespace.
func benchProxier(b *testing.B, mode Mode, svcs []*corev1.Service, eps []*corev1.Endpoints) (*Proxier, *MemorySource, *testNetns) {
	ns := newNetns(b, "bench")
	src := NewMemorySource()
	for _, s := range svcs {
		src.SetService(s)
	}
	for _, e := range eps {
		src.SetEndpoints(e)
	}
	return benchProxierIn(b, ns, mode, src), src, ns
}

// benchProxierIn returns a new Proxier in mode programming ns from src.
// iptables-restore may take 15 minutes (5,000 Services take longer than
// the default minute).
func benchProxierIn(b *testing.B, ns *testNetns, mode Mode, src Source) *Proxier {
	cfg := Config{Source: src, Mode: mode, ClusterCIDR: "10.234.0.0/16"}
	switch mode {
	case ModeIPTables:
		ipt, err := NewExec(ns.path)
		if err != nil {
			b.Fatal(err)
		}
		ipt.RestoreTimeout = 15 * time.Minute
		cfg.IPTables = ipt
	case ModeNFTables:
		nft, err := NewNFTables(ns.path)
		if err != nil {
			b.Fatal(err)
		}
		cfg.NFTables = nft
	}
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func benchMode(b *testing.B, mode Mode, svcs []*corev1.Service, eps []*corev1.Endpoints) {
	ctx := context.Background()
	// Three kinds of full sync: into an empty kernel (an agent's first
	// start), into the kernel as a previous agent left it with nothing
	// known (an agent restart, or the sync after a failure), and the
	// periodic resync of a running proxier.
	b.Run("first-sync", func(b *testing.B) {
		p, _, _ := benchProxier(b, mode, svcs, eps)
		timeResyncs(b, func() *Proxier {
			if err := p.Cleanup(ctx); err != nil {
				b.Fatal(err)
			}
			return p
		})
	})
	b.Run("restart-sync", func(b *testing.B) {
		p, src, ns := benchProxier(b, mode, svcs, eps)
		if err := p.Resync(ctx); err != nil {
			b.Fatal(err)
		}
		timeResyncs(b, func() *Proxier { return benchProxierIn(b, ns, mode, src) })
	})
	b.Run("periodic-resync", func(b *testing.B) {
		p, _, _ := benchProxier(b, mode, svcs, eps)
		if err := p.Resync(ctx); err != nil {
			b.Fatal(err)
		}
		timeResyncs(b, func() *Proxier { return p })
	})

	// Each iteration makes changesPerOp endpoint changes, each timed on
	// its own, so that even -benchtime 1x gives enough samples for an
	// honest median and p90 (ns/op is the time of changesPerOp changes).
	const changesPerOp = 30
	b.Run("endpoint-change", func(b *testing.B) {
		p, src, _ := benchProxier(b, mode, svcs, eps)
		if err := p.Resync(ctx); err != nil {
			b.Fatal(err)
		}
		var took []time.Duration
		i := 0
		for b.Loop() {
			for range changesPerOp {
				// Service i loses, then regains, its last endpoint.
				e := eps[i%len(eps)]
				ips := make([]string, 0, 10)
				for _, a := range e.Subsets[0].Addresses {
					ips = append(ips, a.IP)
				}
				if (i/len(eps))%2 == 0 {
					ips = ips[:9]
				}
				src.SetEndpoints(readyEps2("bench", e.Name, ips))
				start := time.Now()
				if err := p.SyncOnce(ctx); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				i++
			}
		}
		b.ReportMetric(float64(len(took)), "samples")
		b.ReportMetric(float64(percentile(took, 50).Microseconds())/1000, "ms/median-change")
		b.ReportMetric(float64(percentile(took, 90).Microseconds())/1000, "ms/p90-change")
	})

	// The first and the last Service of the table send to one endpoint, a
	// listener on a veth of the namespace; each sample is a new
	// TCP connection from the namespace (nat OUTPUT), whose first packet
	// walks the rules. iptables tests Services one rule at a time, nftables
	// finds them in one map lookup.
	b.Run("first-packet", func(b *testing.B) {
		first, last := svcs[0], svcs[len(svcs)-1]
		p, src, ns := benchProxier(b, mode, svcs, eps)
		ns.in(b, "ip", "link", "set", "lo", "up")
		// A veth pair inside the namespace (the dummy module may be
		// missing): the listener's address is on one end.
		ns.in(b, "ip", "link", "add", "bench0", "type", "veth", "peer", "name", "bench1")
		ns.in(b, "ip", "addr", "add", "10.235.0.1/24", "dev", "bench0")
		ns.in(b, "ip", "link", "set", "bench0", "up")
		ns.in(b, "ip", "link", "set", "bench1", "up")
		// Cluster IPs need a route before nat OUTPUT sees them.
		ns.in(b, "ip", "route", "add", "10.233.0.0/16", "dev", "bench0")
		var l net.Listener
		if err := RunInNetNS(ns.path, func() (err error) { l, err = net.Listen("tcp", "10.235.0.1:8080"); return err }); err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		for _, s := range []*corev1.Service{first, last} {
			src.SetEndpoints(readyEps2("bench", s.Name, []string{"10.235.0.1"}))
		}
		if err := p.Resync(ctx); err != nil {
			b.Fatal(err)
		}
		connect := func(s *corev1.Service) time.Duration {
			var took time.Duration
			err := RunInNetNS(ns.path, func() error {
				start := time.Now()
				c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Spec.ClusterIP, "80"), 2*time.Second)
				took = time.Since(start)
				if err != nil {
					return err
				}
				return c.Close()
			})
			if err != nil {
				b.Fatalf("connect to %s/%s: %v", s.Namespace, s.Name, err)
			}
			return took
		}
		const samples = 200
		var tf, tl []time.Duration
		for b.Loop() {
			for range samples {
				tf = append(tf, connect(first))
				tl = append(tl, connect(last))
			}
		}
		mf, ml := percentile(tf, 50), percentile(tl, 50)
		b.ReportMetric(float64(mf.Microseconds()), "us/first-service")
		b.ReportMetric(float64(ml.Microseconds()), "us/last-service")
		b.ReportMetric(float64(ml)/float64(mf), "x-last/first")
	})
}

// timeResyncs times one Resync per iteration of b, of the Proxier prepare
// returns (untimed), and reports the median in ms/full-sync.
func timeResyncs(b *testing.B, prepare func() *Proxier) {
	var took []time.Duration
	for b.Loop() {
		b.StopTimer()
		p := prepare()
		b.StartTimer()
		start := time.Now()
		if err := p.Resync(context.Background()); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.ReportMetric(float64(percentile(took, 50).Milliseconds()), "ms/full-sync")
}

// benchAppend times rules appended one by one through go-iptables.
func benchAppend(b *testing.B) {
	svcs, eps := scaleSet(1000, 10)
	rs := buildRules(svcs, eps, buildOptions{clusterCIDR: "10.234.0.0/16"})
	rules := 0
	for _, cs := range rs.tables {
		for _, r := range cs.rules {
			rules += len(r)
		}
	}
	ctx := context.Background()
	b.Run("iptables/1000/go-iptables-append", func(b *testing.B) {
		const appendSample = 2000
		ns := newNetns(b, "bench")
		ipt, err := NewExec(ns.path)
		if err != nil {
			b.Fatal(err)
		}
		nat := rs.tables[TableNAT]
		// Create the chains first (not timed), then append rules one by one.
		var decl strings.Builder
		decl.WriteString("*nat\n")
		for _, c := range nat.order {
			fmt.Fprintf(&decl, ":%s - [0:0]\n", c)
		}
		decl.WriteString("COMMIT\n")
		if err := ipt.Restore(ctx, TableNAT, []byte(decl.String())); err != nil {
			b.Fatal(err)
		}
		type rule struct {
			chain string
			args  []string
		}
		var sample []rule
	collect:
		for _, c := range nat.order {
			for _, r := range nat.rules[c] {
				if len(sample) == appendSample {
					break collect
				}
				sample = append(sample, rule{c, splitRule(r)})
			}
		}
		var per time.Duration
		for b.Loop() {
			start := time.Now()
			for _, r := range sample {
				if err := ipt.AppendRule(TableNAT, r.chain, r.args...); err != nil {
					b.Fatalf("append to %s: %v", r.chain, err)
				}
			}
			per = time.Since(start) / time.Duration(len(sample))
			b.StopTimer()
			for _, c := range nat.order {
				if err := ipt.Restore(ctx, TableNAT, []byte("*nat\n:"+c+" - [0:0]\nCOMMIT\n")); err != nil {
					b.Fatal(err)
				}
				if c == sample[len(sample)-1].chain {
					break
				}
			}
			b.StartTimer()
		}
		extrapolated := per * time.Duration(rules)
		b.ReportMetric(float64(per.Microseconds())/1000, "ms/rule-appended")
		b.ReportMetric(extrapolated.Seconds(), "s/all-rules-extrapolated")
	})
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       int
		want    time.Duration
	}{
		{"one sample", ms(7), 90, 7 * time.Millisecond},
		{"median of odd count", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median of even count is the lower middle", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p90 of ten is the ninth", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 90, 9 * time.Millisecond},
		{"p90 of thirty is the twenty-seventh", ms(30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 90, 27 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %d) = %v, want %v", tt.samples, tt.p, got, tt.want)
			}
		})
	}
}

// BenchmarkNFTablesClient compares the two ways of changing bosun's table
// that the package doc weighs: one map element replaced (delete + add, one
// transaction) through knftables (an nft -f process, which first loads the
// table's chains and sets) and through github.com/google/nftables (netlink
// messages, nothing loaded), with 1,000 Services x 10 endpoints in the
// table.
func BenchmarkNFTablesClient(b *testing.B) {
	testenv.E2E(b, testenv.Root(), testenv.Binary("nft"), testenv.Binary("ip"))
	svcs, eps := scaleSet(1000, 10)
	p, _, ns := benchProxier(b, ModeNFTables, svcs, eps)
	ctx := context.Background()
	if err := p.Resync(ctx); err != nil {
		b.Fatal(err)
	}
	sp := servicePorts(svcs[:1], eps[:1])[0]
	ip := net.ParseIP(sp.svc.Spec.ClusterIP).To4()
	chain := nftServiceChain(sp)
	key := []string{ip.String(), "tcp", "80"}

	b.Run("knftables", func(b *testing.B) {
		nft := p.backend.(*nftablesBackend).nft
		var took []time.Duration
		for b.Loop() {
			tx := nft.NewTransaction()
			tx.Delete(&knftables.Element{Map: nftServiceIPs, Key: key})
			tx.Add(&knftables.Element{Map: nftServiceIPs, Key: key, Value: []string{"goto " + chain}})
			start := time.Now()
			if err := nft.Run(ctx, tx); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		b.ReportMetric(float64(percentile(took, 50).Microseconds())/1000, "ms/median-change")
	})

	b.Run("google-nftables", func(b *testing.B) {
		fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
		c, err := gnft.New(gnft.WithNetNSFd(fd))
		if err != nil {
			b.Fatal(err)
		}
		set, err := c.GetSetByName(&gnft.Table{Name: NFTablesTable, Family: gnft.TableFamilyIPv4}, nftServiceIPs)
		if err != nil {
			b.Fatal(err)
		}
		// ipv4_addr . inet_proto . inet_service: each field padded to 4 bytes.
		k := make([]byte, 12)
		copy(k, ip)
		k[4] = unix.IPPROTO_TCP
		k[8], k[9] = 0, 80
		el := gnft.SetElement{Key: k, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}}
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			if err := c.SetDeleteElements(set, []gnft.SetElement{{Key: k}}); err != nil {
				b.Fatal(err)
			}
			if err := c.SetAddElements(set, []gnft.SetElement{el}); err != nil {
				b.Fatal(err)
			}
			if err := c.Flush(); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		b.ReportMetric(float64(percentile(took, 50).Microseconds())/1000, "ms/median-change")
	})
	// Both left the element as it was: the table must still send the
	// Service to its chain.
	if out := ns.in(b, "nft", "list", "map", "ip", NFTablesTable, nftServiceIPs); !strings.Contains(out, "10.233.0.1 . tcp . 80") || !strings.Contains(out, chain) {
		b.Errorf("element lost:\n%.2000s", out)
	}
}

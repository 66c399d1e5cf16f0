package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
)

const (
	e2ePodCIDR     = "10.231.0.0/24"
	e2eServiceCIDR = "10.232.0.0/16"
	e2eGateway     = "10.231.0.1" // the host namespace's address on the bridge
)

// e2eNet is a host namespace with a bridge and three pod namespaces, each
// running an HTTP server answering its name.
type e2eNet struct {
	host *testNetns
	pods []*testNetns
	ips  []string
}

func setupE2ENet(t *testing.T) *e2eNet {
	t.Helper()
	blackhole(t, e2ePodCIDR)
	blackhole(t, e2eServiceCIDR)
	n := &e2eNet{host: newNetns(t, "host")}
	h := n.host.name
	run(t, "ip", "-n", h, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", h, "addr", "add", e2eGateway+"/24", "dev", "br0")
	run(t, "ip", "-n", h, "link", "set", "br0", "up")
	// Cluster IPs need a route before OUTPUT's DNAT sees them.
	run(t, "ip", "-n", h, "route", "add", e2eServiceCIDR, "dev", "br0")
	n.host.in(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	for i := range 3 {
		pod := newNetns(t, ifName("pod", i))
		ip := fmt.Sprintf("10.231.0.%d", 11+i)
		veth := ifName("vpx", i)
		run(t, "ip", "-n", h, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod.name)
		run(t, "ip", "-n", h, "link", "set", veth, "master", "br0", "up")
		run(t, "ip", "-n", h, "link", "set", veth, "type", "bridge_slave", "hairpin", "on")
		run(t, "ip", "-n", pod.name, "addr", "add", ip+"/24", "dev", "eth0")
		run(t, "ip", "-n", pod.name, "link", "set", "eth0", "up")
		run(t, "ip", "-n", pod.name, "route", "add", "default", "via", e2eGateway)
		n.pods = append(n.pods, pod)
		n.ips = append(n.ips, ip)
		serve(t, pod, ip+":8080", fmt.Sprintf("pod%d", i))
	}
	return n
}

// serve runs an HTTP server answering name on addr inside ns.
func serve(t *testing.T, ns *testNetns, addr, name string) {
	t.Helper()
	var l net.Listener
	err := RunInNetNS(ns.path, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	t.Cleanup(func() { srv.Close(); wg.Wait() })
}

// clientIn returns an HTTP client whose connections are made inside ns,
// without keep-alive (every request a new connection, so that load
// balancing shows).
func clientIn(ns *testNetns) *http.Client {
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := RunInNetNS(ns.path, func() error {
					d := net.Dialer{Timeout: 2 * time.Second}
					var err error
					c, err = d.DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
}

// get returns the body of GET http://addr/.
func get(c *http.Client, addr string) (string, error) {
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// poll waits with testutil.Eventually until cond returns "" (what is still
// wrong otherwise) and returns how long that took; when it times out, the
// rules of dumpRules go into the log too. within is a generous budget for
// a loaded machine, not a speed requirement: how fast rules follow a change
// is measured by the proxy's benchmarks (BENCHMARKS.md).
func poll(t *testing.T, within time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	held := false
	defer func() {
		if !held && dumpRules != nil { // Eventually failed the test
			t.Logf("rules:\n%s", dumpRules())
		}
	}()
	testutil.Eventually(t, within, what, func() (bool, string) {
		wrong := cond()
		return wrong == "", wrong
	})
	held = true
	return time.Since(start)
}

// dumpRules, when set, gives the rules poll logs on a timeout.
var dumpRules func() string

// modeProbe is how the conformance suite looks at one mode's rules.
type modeProbe struct {
	mode Mode
	// rules returns all of bosun's rules as text.
	rules func() string
	// nodePort is what rules contain once node port 30080 is programmed.
	nodePort string
	// endpoint is how rules name the endpoint ip:8080.
	endpoint func(ip string) string
	// rejects reports whether a reject for 10.232.0.13:80 is programmed.
	rejects func() bool
	// serviceChain names the chain of a service port.
	serviceChain func(servicePort) string
	// damage flushes the chain that finds services; repaired reports
	// whether it is back.
	damage   func()
	repaired func() bool
	// leftovers returns bosun's rules still in the kernel, if any.
	leftovers func() string
}

// probes returns the modeProbe of each mode for the host namespace.
func probes(t *testing.T, host *testNetns) []modeProbe {
	ipt := func(args ...string) string { return host.in(t, append([]string{"iptables"}, args...)...) }
	nft := func(args ...string) string { return host.in(t, append([]string{"nft"}, args...)...) }
	nftTable := func() string {
		if !strings.Contains(nft("list", "tables"), "table ip "+NFTablesTable) {
			return ""
		}
		return nft("list", "table", "ip", NFTablesTable)
	}
	iptLeft := func() string {
		var out []string
		for _, table := range []string{"nat", "filter"} {
			for _, l := range strings.Split(ipt("-t", table, "-S"), "\n") {
				if strings.Contains(l, "BOSUN") {
					out = append(out, table+": "+l)
				}
			}
		}
		return strings.Join(out, "\n")
	}
	return []modeProbe{
		{
			mode:         ModeIPTables,
			rules:        func() string { return ipt("-t", "nat", "-S") + ipt("-t", "filter", "-S") },
			nodePort:     "--dport 30080",
			endpoint:     func(ip string) string { return ip + ":8080" },
			rejects:      func() bool { return strings.Contains(ipt("-S", ChainServices), "10.232.0.13/32") },
			serviceChain: svcChain,
			damage:       func() { ipt("-t", "nat", "-F", ChainServices) },
			repaired:     func() bool { return strings.Contains(ipt("-t", "nat", "-S", ChainServices), "default/web:80") },
			leftovers:    func() string { return iptLeft() + nftTable() },
		},
		{
			mode:         ModeNFTables,
			rules:        nftTable,
			nodePort:     "tcp . 30080",
			endpoint:     func(ip string) string { return ip + ":8080" },
			rejects:      func() bool { return strings.Contains(nftTable(), "10.232.0.13 . tcp . 80") },
			serviceChain: nftServiceChain,
			damage:       func() { nft("flush", "chain", "ip", NFTablesTable, nftServices) },
			repaired: func() bool {
				return strings.Contains(nft("list", "chain", "ip", NFTablesTable, nftServices), "@"+nftServiceIPs)
			},
			leftovers: func() string { return iptLeft() + nftTable() },
		},
	}
}

// newModeProxier returns a Proxier in mode programming ns, with both modes'
// interfaces, so that it also removes the other mode's rules.
func newModeProxier(t *testing.T, ns *testNetns, mode Mode, src Source) *Proxier {
	t.Helper()
	ipt, err := NewExec(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	nft, err := NewNFTables(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{
		Source: src, Mode: mode, IPTables: ipt, NFTables: nft, Logger: storetest.Logger(t),
		ClusterCIDR: e2ePodCIDR, MinSyncPeriod: 20 * time.Millisecond, SyncPeriod: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode() != mode {
		t.Fatalf("proxier runs in mode %s, want %s", p.Mode(), mode)
	}
	return p
}

func tcpService(name, ip string, port int32) *corev1.Service {
	return svc("default", name, ip, corev1.ServicePort{Port: port, Protocol: corev1.ProtocolTCP})
}

func readyEps(name string, ready, notReady []string) *corev1.Endpoints {
	return eps("default", name, ready, notReady, corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolTCP})
}

// counts sends n requests and counts the answers by pod name.
func counts(t *testing.T, c *http.Client, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		body, err := get(c, addr)
		if err != nil {
			t.Fatalf("GET %s: %v", addr, err)
		}
		got[body]++
	}
	return got
}

// TestE2EProxy runs the same Service conformance suite against each mode,
// in a network namespace of its own.
func TestE2EProxy(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("iptables-restore"), testenv.Binary("nft"), testenv.Binary("ip"), testenv.Binary("nsenter"))
	for _, mode := range []Mode{ModeIPTables, ModeNFTables} {
		t.Run(string(mode), func(t *testing.T) { testProxyConformance(t, mode) })
	}
}

func testProxyConformance(t *testing.T, mode Mode) {
	n := setupE2ENet(t)
	var probe modeProbe
	for _, pr := range probes(t, n.host) {
		if pr.mode == mode {
			probe = pr
		}
	}
	src := NewMemorySource()
	p := newModeProxier(t, n.host, mode, src)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := p.Cleanup(context.Background()); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	})
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	dumpRules = probe.rules
	t.Cleanup(func() { dumpRules = nil })
	host := clientIn(n.host)
	nat := probe.rules
	// Traffic is sent only once the rules are in: a connection attempted
	// before would keep its un-NATed conntrack entry for all its retries.
	waitRules := func(t *testing.T, want string) {
		t.Helper()
		poll(t, 30*time.Second, "rules for "+want, func() string {
			if !strings.Contains(nat(), want) {
				return "not programmed yet"
			}
			return ""
		})
	}
	const web = "10.232.0.10:80"
	src.SetService(tcpService("web", "10.232.0.10", 80))
	src.SetEndpoints(readyEps("web", n.ips, nil))
	waitRules(t, "default/web:80 ->")
	poll(t, 5*time.Second, "web answers", func() string {
		if _, err := get(host, web); err != nil {
			return err.Error()
		}
		return ""
	})

	t.Run("three replicas share 300 requests", func(t *testing.T) {
		got := counts(t, host, web, 300)
		for i := range 3 {
			if c := got[fmt.Sprintf("pod%d", i)]; c < 45 {
				t.Errorf("pod%d got %d of 300 requests (< 15%%): %v", i, c, got)
			}
		}
		t.Logf("distribution: %v", got)
	})

	t.Run("scaled to one", func(t *testing.T) {
		src.SetEndpoints(readyEps("web", n.ips[:1], nil))
		poll(t, 30*time.Second, "rules for one endpoint", func() string {
			if s := nat(); strings.Contains(s, probe.endpoint(n.ips[1])) {
				return "pod1 still in the rules"
			}
			return ""
		})
		if got := counts(t, host, web, 50); got["pod0"] != 50 {
			t.Errorf("with one endpoint: %v", got)
		}
	})

	t.Run("not ready endpoint leaves the rules", func(t *testing.T) {
		src.SetEndpoints(readyEps("web", n.ips, nil))
		poll(t, 30*time.Second, "three endpoints back", func() string {
			if s := nat(); !strings.Contains(s, probe.endpoint(n.ips[2])) {
				return "pod2 not in the rules"
			}
			return ""
		})
		src.SetEndpoints(readyEps("web", n.ips[:2], n.ips[2:]))
		took := poll(t, 30*time.Second, "pod2 gone from the rules", func() string {
			if s := nat(); strings.Contains(s, probe.endpoint(n.ips[2])) {
				return "pod2 still in the rules"
			}
			return ""
		})
		t.Logf("not-ready endpoint left the rules after %v", took)
		if got := counts(t, host, web, 60); got["pod2"] != 0 || got["pod0"] == 0 || got["pod1"] == 0 {
			t.Errorf("after pod2 became not ready: %v", got)
		}
	})

	t.Run("ClientIP affinity", func(t *testing.T) {
		s := affinity(tcpService("sticky", "10.232.0.11", 80), nil)
		src.SetService(s)
		src.SetEndpoints(readyEps("sticky", n.ips, nil))
		waitRules(t, "default/sticky:80 ->")
		poll(t, 30*time.Second, "sticky answers", func() string {
			if _, err := get(host, "10.232.0.11:80"); err != nil {
				return err.Error()
			}
			return ""
		})
		if got := counts(t, host, "10.232.0.11:80", 50); len(got) != 1 {
			t.Errorf("one client reached several pods: %v", got)
		}
	})

	t.Run("NodePort on the node's address", func(t *testing.T) {
		s := nodePort(tcpService("np", "10.232.0.14", 80), 30080)
		src.SetService(s)
		src.SetEndpoints(readyEps("np", n.ips, nil))
		waitRules(t, probe.nodePort)
		addr := e2eGateway + ":30080"
		poll(t, 30*time.Second, "node port answers", func() string {
			if _, err := get(host, addr); err != nil {
				return err.Error()
			}
			return ""
		})
		if got := counts(t, host, addr, 60); len(got) < 2 {
			t.Errorf("node port not balanced: %v", got)
		}
	})

	t.Run("pod reaches itself through its service", func(t *testing.T) {
		src.SetService(tcpService("self", "10.232.0.12", 80))
		src.SetEndpoints(readyEps("self", n.ips[:1], nil))
		waitRules(t, "default/self:80 ->")
		pod0 := clientIn(n.pods[0])
		poll(t, 30*time.Second, "hairpin answer", func() string {
			body, err := get(pod0, "10.232.0.12:80")
			if err != nil {
				return err.Error()
			}
			if body != "pod0" {
				return "answered by " + body
			}
			return ""
		})
		// And another pod through the same service.
		if body, err := get(clientIn(n.pods[1]), "10.232.0.12:80"); err != nil || body != "pod0" {
			t.Errorf("pod1 -> self: %q, %v", body, err)
		}
	})

	t.Run("no endpoints rejects at once", func(t *testing.T) {
		src.SetService(tcpService("empty", "10.232.0.13", 80))
		poll(t, 30*time.Second, "reject rule", func() string {
			if !probe.rejects() {
				return "no reject rule yet"
			}
			return ""
		})
		start := time.Now()
		_, err := get(host, "10.232.0.13:80")
		took := time.Since(start)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("connecting to a service without endpoints: %v, want connection refused", err)
		}
		if took > time.Second {
			t.Errorf("connection failed after %v, want < 1s", took)
		}
	})

	t.Run("deleted service loses its chains", func(t *testing.T) {
		sticky := servicePorts([]*corev1.Service{affinity(tcpService("sticky", "10.232.0.11", 80), nil)}, nil)[0]
		chain := probe.serviceChain(sticky)
		if !strings.Contains(nat(), chain) {
			t.Fatalf("chain %s missing before the delete", chain)
		}
		src.DeleteService("default", "sticky")
		src.DeleteEndpoints("default", "sticky")
		poll(t, 30*time.Second, "sticky's chains gone", func() string {
			s := nat()
			if strings.Contains(s, chain) || strings.Contains(s, "default/sticky") {
				return "still there"
			}
			return ""
		})
	})

	t.Run("flushed rules come back on resync", func(t *testing.T) {
		probe.damage()
		took := poll(t, 3*time.Second, "services chain refilled", func() string {
			if !probe.repaired() {
				return "still flushed"
			}
			return ""
		})
		t.Logf("flushed chain restored after %v (SyncPeriod 1s)", took)
		poll(t, 3*time.Second, "web answers again", func() string {
			if _, err := get(host, web); err != nil {
				return err.Error()
			}
			return ""
		})
	})

	t.Run("cleanup removes every chain and jump", func(t *testing.T) {
		cancel()
		wg.Wait()
		if err := p.Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if left := probe.leftovers(); left != "" {
			t.Errorf("rules left after Cleanup:\n%s", left)
		}
	})
}

// TestE2ESwitchModes switches one network namespace from iptables to
// nftables and back: each switch leaves none of the other mode's rules, and
// the Service answers in each mode.
func TestE2ESwitchModes(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("iptables-restore"), testenv.Binary("nft"), testenv.Binary("ip"), testenv.Binary("nsenter"))
	n := setupE2ENet(t)
	src := NewMemorySource()
	src.SetService(tcpService("web", "10.232.0.10", 80))
	src.SetEndpoints(readyEps("web", n.ips, nil))
	host := clientIn(n.host)
	pr := probes(t, n.host)
	iptRules, nftRules := pr[0].rules, pr[1].rules
	var last *Proxier
	t.Cleanup(func() {
		if last != nil {
			if err := last.Cleanup(context.Background()); err != nil {
				t.Errorf("Cleanup: %v", err)
			}
		}
	})
	for _, mode := range []Mode{ModeIPTables, ModeNFTables, ModeIPTables} {
		p := newModeProxier(t, n.host, mode, src)
		last = p
		if err := p.Resync(context.Background()); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		ipt, nft := iptRules(), nftRules()
		hasIPT := strings.Contains(ipt, "default/web:80")
		hasNFT := strings.Contains(nft, "default/web:80")
		if want := mode == ModeIPTables; hasIPT != want || strings.Contains(ipt, "BOSUN") != want {
			t.Errorf("after switching to %s: iptables has bosun's rules: %v, want %v:\n%s", mode, hasIPT, want, ipt)
		}
		if want := mode == ModeNFTables; hasNFT != want || (nft != "") != want {
			t.Errorf("after switching to %s: nftables has bosun's table: %v, want %v:\n%s", mode, hasNFT, want, nft)
		}
		poll(t, 10*time.Second, "web answers in "+string(mode)+" mode", func() string {
			if _, err := get(host, "10.232.0.10:80"); err != nil {
				return err.Error()
			}
			return ""
		})
	}
	if err := last.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	last = nil
	if left := pr[0].leftovers(); left != "" {
		t.Errorf("rules left after Cleanup:\n%s", left)
	}
}

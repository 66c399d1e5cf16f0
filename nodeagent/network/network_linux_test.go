package network

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

func pluginsInstalled() error {
	for _, p := range requiredPlugins {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			return fmt.Errorf("CNI plugin %s missing in /usr/lib/cni (make deps installs containernetworking-plugins)", p)
		}
	}
	return nil
}

// env is a Network running in a test host namespace.
type env struct {
	t      testing.TB
	n      *Network
	host   *nettest.Host
	dir    string
	bridge string
	cidr   string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.E2E(t, testenv.Root(), testenv.Binary("ip"), testenv.Binary("nsenter"), testenv.Binary("iptables"), pluginsInstalled)
	host := nettest.HostNS(t)
	cidr := nettest.CIDR(t, 24)
	dir := t.TempDir()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	bridge := fmt.Sprintf("bt%x", b)
	n, err := New(Config{Dir: dir, PodCIDR: cidr, Bridge: bridge, BinDirs: []string{"/usr/lib/cni"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, n: n, host: host, dir: dir, bridge: bridge, cidr: cidr}
	t.Cleanup(func() {
		// Whatever a failed test left behind.
		host.Run(t, func() {
			ids, err := n.List()
			if err != nil {
				t.Error(err)
				return
			}
			for _, id := range ids {
				if err := n.Teardown(context.Background(), id); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		})
		// The safety check: nothing reached the machine's own namespace.
		if _, err := net.InterfaceByName(bridge); err == nil {
			t.Errorf("bridge %s exists in the test process's root namespace", bridge)
		}
	})
	return e
}

func (e *env) setup(id string, ports ...PortMapping) Attachment {
	e.t.Helper()
	var a Attachment
	e.host.Run(e.t, func() {
		var err error
		a, err = e.n.Setup(context.Background(), id, "default", "pod-"+id, ports)
		if err != nil {
			e.t.Fatal(err)
		}
	})
	return a
}

func (e *env) teardown(id string) {
	e.t.Helper()
	e.host.Run(e.t, func() {
		if err := e.n.Teardown(context.Background(), id); err != nil {
			e.t.Fatal(err)
		}
	})
}

// listen serves "hello from <name>\n" on addr inside the namespace at path.
func listen(t testing.TB, path, addr, name string) net.Addr {
	t.Helper()
	var ln net.Listener
	if err := nettest.Do(path, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", path, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", name)
			c.Close()
		}
	}()
	return ln.Addr()
}

// wantAnswer checks that, from the network namespace netns, the server at
// addr answers want; what names the path in the failure.
func wantAnswer(t *testing.T, netns, addr, want, what string) {
	t.Helper()
	if err := nettest.Do(netns, func() error {
		got, err := ask(addr)
		if err == nil && got != want {
			err = fmt.Errorf("answer %q", got)
		}
		return err
	}); err != nil {
		t.Errorf("%s (%s): %v", what, addr, err)
	}
}

// ask connects to addr and returns the first line it answers.
func ask(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// leftovers lists what remains of pods in e: netns files, mounts, veths,
// IP reservations, libcni cache entries and iptables rules naming ids.
func (e *env) leftovers(ids ...string) []string {
	e.t.Helper()
	var left []string
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "netns")); len(ents) > 0 {
		for _, x := range ents {
			left = append(left, "netns file "+x.Name())
		}
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, e.dir) {
			left = append(left, "mount "+l)
		}
	}
	out, err := e.host.Command(context.Background(), "ip", "-o", "link", "show", "type", "veth").CombinedOutput()
	if err != nil {
		e.t.Fatalf("ip link: %v: %s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			left = append(left, "veth "+l)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(e.dir, "ipam", NetworkName))
	for _, x := range ents {
		if x.Name() != "lock" && !strings.HasPrefix(x.Name(), "last_reserved_ip") {
			left = append(left, "ip reservation "+x.Name())
		}
	}
	ents, _ = os.ReadDir(filepath.Join(e.dir, "cni-cache", "results"))
	for _, x := range ents {
		left = append(left, "cni cache "+x.Name())
	}
	out, err = e.host.Command(context.Background(), "iptables-save").CombinedOutput()
	if err != nil {
		e.t.Fatalf("iptables-save: %v: %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		for _, id := range ids {
			if strings.Contains(l, id) {
				left = append(left, "iptables "+l)
			}
		}
		if strings.HasPrefix(l, ":CNI-DN-") || strings.HasPrefix(l, "-A CNI-HOSTPORT-DNAT") {
			left = append(left, "iptables "+l)
		}
	}
	return left
}

func TestPodsTalk(t *testing.T) {
	e := newEnv(t)
	a := e.setup("poda")
	b := e.setup("podb")

	_, podNet, _ := net.ParseCIDR(e.cidr)
	if !podNet.Contains(a.IP) || !podNet.Contains(b.IP) || a.IP.Equal(b.IP) {
		t.Fatalf("pod IPs %s and %s: want two distinct addresses in %s", a.IP, b.IP, e.cidr)
	}
	gw := podNet.IP.To4()
	gw = net.IPv4(gw[0], gw[1], gw[2], gw[3]+1)
	if !a.Gateway.Equal(gw) {
		t.Errorf("gateway %s, want %s", a.Gateway, gw)
	}
	if a.NetNSPath != filepath.Join(e.dir, "netns", "poda") {
		t.Errorf("netns path %s", a.NetNSPath)
	}
	// Inside the pod: eth0 carries the IP, lo is up.
	if err := nettest.Do(a.NetNSPath, func() error {
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		if lo.Flags&net.FlagUp == 0 {
			return errors.New("lo is down")
		}
		eth0, err := net.InterfaceByName(IfName)
		if err != nil {
			return err
		}
		if eth0.Flags&net.FlagUp == 0 {
			return errors.New("eth0 is down")
		}
		addrs, err := eth0.Addrs()
		if err != nil {
			return err
		}
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.Equal(a.IP) {
				return nil
			}
		}
		return fmt.Errorf("eth0 addresses %v lack %s", addrs, a.IP)
	}); err != nil {
		t.Fatalf("pod a: %v", err)
	}

	addr := listen(t, a.NetNSPath, net.JoinHostPort(a.IP.String(), "0"), "a").String()
	// localhost inside the pod (what containers of one pod share).
	loAddr := listen(t, a.NetNSPath, "127.0.0.1:0", "a-lo").String()
	wantAnswer(t, a.NetNSPath, loAddr, "hello from a-lo", "pod a to its own localhost")
	// From pod b.
	wantAnswer(t, b.NetNSPath, addr, "hello from a", "pod b to pod a")
	// From the host namespace.
	e.host.Run(t, func() {
		got, err := ask(addr)
		if err != nil || got != "hello from a" {
			t.Errorf("host to pod a %s: %q, %v", addr, got, err)
		}
	})

	// Idempotent setup returns the same attachment.
	again := e.setup("poda")
	if !again.IP.Equal(a.IP) || again.NetNSPath != a.NetNSPath {
		t.Errorf("second Setup: %+v, want %+v", again, a)
	}
	st, err := e.n.Status("podb")
	if err != nil || !st.IP.Equal(b.IP) || !st.Gateway.Equal(gw) {
		t.Errorf("Status(podb) = %+v, %v; want IP %s", st, err, b.IP)
	}
	ids, err := e.n.List()
	if err != nil || strings.Join(ids, ",") != "poda,podb" {
		t.Errorf("List = %v, %v", ids, err)
	}

	e.teardown("poda")
	e.teardown("poda") // idempotent
	e.teardown("podb")
	if _, err := e.n.Status("poda"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status after teardown: %v, want ErrNotFound", err)
	}
	if left := e.leftovers("poda", "podb"); len(left) > 0 {
		t.Errorf("after teardown:\n%s", strings.Join(left, "\n"))
	}
	// The address is free again: a new pod can get one (host-local reuses
	// released addresses once it has gone round the range).
	if ids, _ := e.n.List(); len(ids) != 0 {
		t.Errorf("List after teardown = %v", ids)
	}
}

func TestHostPort(t *testing.T) {
	e := newEnv(t)
	const hostPort = 31080
	c := e.setup("podc", PortMapping{HostPort: hostPort, ContainerPort: 8080, Protocol: "TCP"})
	listen(t, c.NetNSPath, ":8080", "c")
	target := net.JoinHostPort(c.Gateway.String(), fmt.Sprint(hostPort))
	e.host.Run(t, func() {
		got, err := ask(target)
		if err != nil || got != "hello from c" {
			t.Errorf("host to %s (hostPort): %q, %v", target, got, err)
		}
	})
	// Hairpin: the pod reaches itself through the node's address.
	wantAnswer(t, c.NetNSPath, target, "hello from c", "pod c to itself through the node's address")
	e.teardown("podc")
	if left := e.leftovers("podc"); len(left) > 0 {
		t.Errorf("after teardown:\n%s", strings.Join(left, "\n"))
	}
	e.host.Run(t, func() {
		if _, err := ask(target); err == nil {
			t.Errorf("hostPort %s still answers after teardown", target)
		}
	})
}

// TestRecovery: a new Network on the same Dir (an agent restarted) finds
// the pods by List, reports them by Status and tears them down; a setup
// interrupted before CNI ran is cleaned up by the next Setup.
func TestRecovery(t *testing.T) {
	e := newEnv(t)
	a := e.setup("orphan", PortMapping{HostPort: 31081, ContainerPort: 80})
	n2, err := New(Config{Dir: e.dir, PodCIDR: e.cidr, Bridge: e.bridge, BinDirs: []string{"/usr/lib/cni"}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := n2.List()
	if err != nil || len(ids) != 1 || ids[0] != "orphan" {
		t.Fatalf("List = %v, %v", ids, err)
	}
	st, err := n2.Status("orphan")
	if err != nil || !st.IP.Equal(a.IP) {
		t.Fatalf("Status = %+v, %v; want %s", st, err, a.IP)
	}
	e.host.Run(t, func() {
		if err := n2.Teardown(context.Background(), "orphan"); err != nil {
			t.Fatal(err)
		}
	})
	if left := e.leftovers("orphan"); len(left) > 0 {
		t.Errorf("after teardown by a new Network:\n%s", strings.Join(left, "\n"))
	}

	// Half-done: a namespace file without CNI (crash between the two).
	if err := createNetNS(filepath.Join(e.dir, "netns", "half")); err != nil {
		t.Fatal(err)
	}
	h := e.setup("half")
	if h.IP == nil {
		t.Fatal("no IP after setting up over a half-done pod")
	}
	// Half-done: an empty file, not a namespace.
	if err := os.WriteFile(filepath.Join(e.dir, "netns", "empty"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	e.teardown("empty")
	e.teardown("half")
	if left := e.leftovers("half", "empty"); len(left) > 0 {
		t.Errorf("after teardown of half-done pods:\n%s", strings.Join(left, "\n"))
	}
}

func TestSetupErrors(t *testing.T) {
	e := newEnv(t)
	if _, err := e.n.Setup(context.Background(), "../x", "default", "x", nil); err == nil {
		t.Error("Setup accepted id ../x")
	}
	for _, p := range []PortMapping{{HostPort: 70000, ContainerPort: 80}, {HostPort: 80, ContainerPort: 80, Protocol: "icmp"}, {HostPort: 80, ContainerPort: 0}} {
		if _, err := e.n.Setup(context.Background(), "bad", "default", "bad", []PortMapping{p}); err == nil {
			t.Errorf("Setup accepted port mapping %+v", p)
		}
	}

	// A plugin failing after bridge and portmap did their work: Setup
	// fails and undoes everything (IP, veth, portmap rules, namespace).
	bin := t.TempDir()
	script := "#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ]; then echo '{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"injected failure\"}'; exit 1; fi\nexit 0\n"
	if err := os.WriteFile(filepath.Join(bin, "bosun-fail"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Dir: e.dir, PodCIDR: e.cidr, Bridge: e.bridge, BinDirs: []string{bin, "/usr/lib/cni"}})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(n.pod.Bytes, &raw); err != nil {
		t.Fatal(err)
	}
	raw["plugins"] = append(raw["plugins"].([]any), map[string]any{"type": "bosun-fail"})
	b, _ := json.Marshal(raw)
	if n.pod, err = libcni.ConfListFromBytes(b); err != nil {
		t.Fatal(err)
	}
	e.host.Run(t, func() {
		_, err = n.Setup(context.Background(), "failing", "default", "failing", []PortMapping{{HostPort: 31082, ContainerPort: 80}})
	})
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Setup with a failing plugin: %v, want the injected failure", err)
	}
	if left := e.leftovers("failing"); len(left) > 0 {
		t.Errorf("after a failed setup:\n%s", strings.Join(left, "\n"))
	}
}

// TestCycles sets up and tears down 200 pods, four at a time (as an agent
// does with several pod workers), half of them with a host port, and
// checks that nothing is left.
func TestCycles(t *testing.T) {
	e := newEnv(t)
	const cycles, workers = 200, 4
	start := time.Now()
	errc := make(chan error, workers)
	for w := range workers {
		go func() {
			// Each worker's own thread enters the host namespace for its CNI calls.
			errc <- nettest.Do(e.host.Path, func() (err error) {
				ctx := context.Background()
				for i := w; i < cycles && err == nil; i += workers {
					id := fmt.Sprintf("cycle-%d", i)
					var ports []PortMapping
					if i%2 == 0 {
						ports = []PortMapping{{HostPort: int32(32000 + i), ContainerPort: 80}}
					}
					if _, err = e.n.Setup(ctx, id, "default", id, ports); err != nil {
						break
					}
					err = e.n.Teardown(ctx, id)
				}
				return err
			})
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d setup/teardown cycles, %d at a time: %v; %v per cycle", cycles, workers, time.Since(start), time.Since(start)/cycles)
	if left := e.leftovers("cycle-"); len(left) > 0 {
		t.Errorf("after %d cycles:\n%s", cycles, strings.Join(left, "\n"))
	}
}

func BenchmarkSetupTeardown(b *testing.B) {
	e := newEnv(b)
	var setup, teardown time.Duration
	e.host.Run(b, func() {
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			id := fmt.Sprintf("bench-%d", i)
			t0 := time.Now()
			if _, err := e.n.Setup(ctx, id, "default", id, nil); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := e.n.Teardown(ctx, id); err != nil {
				b.Fatal(err)
			}
			setup += t1.Sub(t0)
			teardown += time.Since(t1)
		}
	})
	b.ReportMetric(float64(setup.Milliseconds())/float64(b.N), "setup-ms/op")
	b.ReportMetric(float64(teardown.Milliseconds())/float64(b.N), "teardown-ms/op")
}

// TestTwoNodesNoSharedAddress runs two nodes' networks (each in its own
// test namespace, as two machines): before a node has its pod CIDR, setup
// fails with ErrNoPodCIDR and creates nothing; once the two have
// different CIDRs, no address is handed out twice.
func TestTwoNodesNoSharedAddress(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("ip"), testenv.Binary("nsenter"), testenv.Binary("iptables"), pluginsInstalled)
	type node struct {
		host *nettest.Host
		lazy *Lazy
		cidr string
		dir  string
		mu   chan string // holds the CIDR the control plane assigned ("" = none yet)
	}
	var nodes []*node
	for i := range 2 {
		n := &node{host: nettest.HostNS(t), cidr: nettest.CIDR(t, 26), dir: t.TempDir(), mu: make(chan string, 1)}
		n.mu <- ""
		n.lazy = NewLazy(Config{Dir: n.dir, Bridge: fmt.Sprintf("bn%d%x", i, time.Now().UnixNano()&0xffff), BinDirs: []string{"/usr/lib/cni"},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
			func(context.Context) (string, error) { c := <-n.mu; n.mu <- c; return c, nil })
		nodes = append(nodes, n)
		t.Cleanup(func() {
			n.host.Run(t, func() {
				nw, err := n.lazy.Network(context.Background())
				if err != nil {
					return // never created
				}
				ids, _ := nw.List()
				for _, id := range ids {
					if err := nw.Teardown(context.Background(), id); err != nil {
						t.Errorf("cleanup: %v", err)
					}
				}
			})
		})
	}

	for i, n := range nodes {
		n.host.Run(t, func() {
			_, err := n.lazy.Setup(context.Background(), fmt.Sprintf("early%d", i), "default", "early", nil)
			if !errors.Is(err, ErrNoPodCIDR) {
				t.Errorf("node %d: Setup before the pod CIDR = %v, want ErrNoPodCIDR", i, err)
			}
		})
		if _, err := os.Stat(filepath.Join(n.dir, "netns", fmt.Sprintf("early%d", i))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("node %d: a failed setup left a namespace file (%v)", i, err)
		}
	}

	// The control plane assigns two different CIDRs.
	for _, n := range nodes {
		<-n.mu
		n.mu <- n.cidr
	}
	const perNode = 6
	seen := map[string]string{}
	for i, n := range nodes {
		_, podNet, _ := net.ParseCIDR(n.cidr)
		for j := range perNode {
			id := fmt.Sprintf("n%dp%d", i, j)
			var a Attachment
			n.host.Run(t, func() {
				var err error
				if a, err = n.lazy.Setup(context.Background(), id, "default", id, nil); err != nil {
					t.Fatal(err)
				}
			})
			if !podNet.Contains(a.IP) {
				t.Errorf("pod %s: IP %s outside its node's CIDR %s", id, a.IP, n.cidr)
			}
			if prev, dup := seen[a.IP.String()]; dup {
				t.Errorf("IP %s handed out to %s and %s", a.IP, prev, id)
			}
			seen[a.IP.String()] = id
		}
	}
	if len(seen) != 2*perNode {
		t.Errorf("%d distinct IPs, want %d", len(seen), 2*perNode)
	}
}

package routes_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
	"github.com/bosun-dev/bosun/nodeagent/routes"
)

// kernelRoutes returns `ip route show` lines of the test namespace.
func kernelRoutes(t *testing.T, host *nettest.Host, args ...string) []string {
	t.Helper()
	out, err := host.Command(context.Background(), "ip", append([]string{"-4", "route", "show"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip route show %v: %v: %s", args, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func ipIn(t *testing.T, host *nettest.Host, args ...string) {
	t.Helper()
	if out, err := host.Command(context.Background(), "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// TestNetlinkRoutes programs real routes in a network namespace the test
// creates: a "node" on 192.168.77.0/24 (a veth pair, as the kernel here
// has no dummy interface) routing two other nodes' pod CIDRs, next to a
// foreign route it must leave alone.
func TestNetlinkRoutes(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("ip"), testenv.Binary("nsenter"), testenv.Binary("iptables"))
	host := nettest.HostNS(t)
	// Pod CIDRs used by the routes, blackholed in the machine's namespace.
	cidrB, cidrC := nettest.CIDR(t, 24), nettest.CIDR(t, 24)

	ipIn(t, host, "-n", host.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	ipIn(t, host, "-n", host.Name, "addr", "add", "192.168.77.1/24", "dev", "eth0")
	ipIn(t, host, "-n", host.Name, "link", "set", "eth0", "up")
	ipIn(t, host, "-n", host.Name, "link", "set", "eth0p", "up")
	ipIn(t, host, "-n", host.Name, "route", "add", "172.30.0.0/16", "via", "192.168.77.254")

	table, err := routes.NewNetlinkTable(host.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(table.Close)
	masq, err := routes.NewIPTablesMasquerade(host.Path)
	if err != nil {
		t.Fatal(err)
	}
	nodes := newMemNodes()
	c, err := routes.New(routes.Config{NodeName: "self", Nodes: nodes, Table: table, Masquerade: masq,
		ClusterCIDR: "10.128.0.0/9", Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	nodes.set(node("self", "192.168.77.1", "10.250.0.0/24"))
	foreign := "172.30.0.0/16 via 192.168.77.254 dev eth0"

	steps := []struct {
		name   string
		change func()
		want   []string // bosun's routes, as ip route prints them
	}{
		{"add", func() { nodes.set(node("b", "192.168.77.2", cidrB)) },
			[]string{cidrB + " via 192.168.77.2 dev eth0"}},
		{"second node", func() { nodes.set(node("c", "192.168.77.3", cidrC)) },
			sorted(cidrB+" via 192.168.77.2 dev eth0", cidrC+" via 192.168.77.3 dev eth0")},
		{"IP change", func() { nodes.set(node("b", "192.168.77.12", cidrB)) },
			sorted(cidrB+" via 192.168.77.12 dev eth0", cidrC+" via 192.168.77.3 dev eth0")},
		{"next hop off the segment is skipped", func() { nodes.set(node("far", "10.9.9.9", "10.250.9.0/24")) },
			sorted(cidrB+" via 192.168.77.12 dev eth0", cidrC+" via 192.168.77.3 dev eth0")},
		{"route deleted by hand comes back", func() { ipIn(t, host, "-n", host.Name, "route", "del", cidrC) },
			sorted(cidrB+" via 192.168.77.12 dev eth0", cidrC+" via 192.168.77.3 dev eth0")},
		{"delete", func() { nodes.del("b") },
			[]string{cidrC + " via 192.168.77.3 dev eth0"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			if err := c.Sync(true); err != nil {
				t.Fatal(err)
			}
			// Sorted as the want lists are: the kernel lists routes in
			// address order, and the test's CIDRs are random.
			if got := sorted(kernelRoutes(t, host, "proto", "211")...); !slices.Equal(got, s.want) {
				t.Errorf("bosun's routes = %q, want %q", got, s.want)
			}
			if got := kernelRoutes(t, host, "172.30.0.0/16"); !slices.Equal(got, []string{foreign}) {
				t.Errorf("foreign route = %q, want %q", got, foreign)
			}
			if err := c.NetworkReady(); err != nil {
				t.Errorf("NetworkReady: %v", err)
			}
		})
	}

	t.Run("masquerade rule", func(t *testing.T) {
		rules, err := masq.Rules()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"-N " + routes.Chain,
			"-A " + routes.Chain + ` -s 10.250.0.0/24 ! -d 10.128.0.0/9 -m comment --comment "bosun: pod traffic leaving the cluster" -j MASQUERADE`}
		if !slices.Equal(rules, want) {
			t.Errorf("rules = %q, want %q", rules, want)
		}
		// A rule added by hand is removed by the next full sync; the
		// node's CIDR changing replaces the rule.
		out, err := host.Command(context.Background(), "iptables", "-t", "nat", "-A", routes.Chain, "-j", "RETURN").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables: %v: %s", err, out)
		}
		nodes.set(node("self", "192.168.77.1", "10.250.1.0/24"))
		if err := c.Sync(true); err != nil {
			t.Fatal(err)
		}
		rules, _ = masq.Rules()
		if len(rules) != 2 || !strings.Contains(rules[1], "-s 10.250.1.0/24 ! -d 10.128.0.0/9") {
			t.Errorf("rules after the CIDR change = %q", rules)
		}
		out, err = host.Command(context.Background(), "iptables", "-t", "nat", "-S", "POSTROUTING").CombinedOutput()
		if err != nil || strings.Count(string(out), "-j "+routes.Chain) != 1 {
			t.Errorf("POSTROUTING = %s (%v), want one jump to %s", out, err, routes.Chain)
		}
	})

	t.Run("cleanup", func(t *testing.T) {
		n, err := routes.Cleanup(host.Path)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("Cleanup deleted %d routes, want 1", n)
		}
		if got := kernelRoutes(t, host, "proto", "211"); len(got) != 0 {
			t.Errorf("routes left after Cleanup: %q", got)
		}
		if got := kernelRoutes(t, host, "172.30.0.0/16"); !slices.Equal(got, []string{foreign}) {
			t.Errorf("foreign route after Cleanup = %q, want %q", got, foreign)
		}
		out, _ := host.Command(context.Background(), "iptables", "-t", "nat", "-S").CombinedOutput()
		if strings.Contains(string(out), routes.Chain) {
			t.Errorf("nat table after Cleanup still has %s:\n%s", routes.Chain, out)
		}
		if n, err := routes.Cleanup(host.Path); err != nil || n != 0 {
			t.Errorf("second Cleanup = %d, %v; want 0, nil", n, err)
		}
	})
}

func sorted(s ...string) []string { slices.Sort(s); return s }

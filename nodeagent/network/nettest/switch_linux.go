package nettest

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

// Switch is an L2 segment for tests: a network namespace holding a bridge
// that joins the namespaces of several machines (Hosts), each through a
// veth pair, with addresses from a /24 the test reserved with CIDR. The
// switch namespace also answers as the segment's router, at the .254
// address, so that an attached Host has a default route as a real machine
// does; it forwards nothing (IP forwarding stays off in it), so a packet
// sent towards anything outside the segment is dropped there.
type Switch struct {
	// Host is the switch's own namespace, holding the bridge.
	Host *Host
	// Bridge is the bridge's name inside Host.
	Bridge string
	// Prefix is the segment's subnet, blackholed in the machine's namespace.
	Prefix netip.Prefix
	// Router is the switch's address on the segment: the attached hosts'
	// default gateway.
	Router netip.Addr

	t     testing.TB
	ports int
}

// NewSwitch creates a switch namespace with a bridge on a fresh /24 (see
// CIDR) and removes it when t ends. Gate the test with testenv first: it
// needs root and ip(8).
func NewSwitch(t testing.TB) *Switch {
	t.Helper()
	prefix, err := netip.ParsePrefix(CIDR(t, 24))
	if err != nil {
		t.Fatalf("nettest: %v", err)
	}
	s := &Switch{Host: HostNS(t), Bridge: "br0", Prefix: prefix, t: t}
	s.Router = s.Addr(254)
	s.ip(t, "link", "add", s.Bridge, "type", "bridge")
	s.ip(t, "addr", "add", fmt.Sprintf("%s/%d", s.Router, prefix.Bits()), "dev", s.Bridge)
	s.ip(t, "link", "set", s.Bridge, "up")
	return s
}

// Addr returns the segment's address with last byte n (1 to 254).
func (s *Switch) Addr(n int) netip.Addr {
	b := s.Prefix.Masked().Addr().As4()
	b[3] = byte(n)
	return netip.AddrFrom4(b)
}

// Attach plugs h into the switch: a veth pair whose switch end joins the
// bridge and whose other end becomes ifname in h, with the segment's next
// free address (.1, .2, ... in order of attachment) and a default route
// via the Router. It returns h's address. The veths go away with the
// namespaces.
func (s *Switch) Attach(t testing.TB, h *Host, ifname string) netip.Addr {
	t.Helper()
	s.ports++
	if s.ports > 253 {
		t.Fatalf("nettest: switch %s is full", s.Host.Name)
	}
	addr := s.Addr(s.ports)
	port := fmt.Sprintf("port%d", s.ports)
	// Created inside the switch, with the peer moved into h at once: no
	// interface ever appears in the machine's own namespace.
	s.ip(t, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", h.Name)
	s.ip(t, "link", "set", port, "master", s.Bridge)
	s.ip(t, "link", "set", port, "up")
	for _, args := range [][]string{
		{"addr", "add", fmt.Sprintf("%s/%d", addr, s.Prefix.Bits()), "dev", ifname},
		{"link", "set", ifname, "up"},
		{"route", "add", "default", "via", s.Router.String(), "dev", ifname},
	} {
		if out, err := h.Command(context.Background(), "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("nettest: ip %v in %s: %v: %s", args, h.Name, err, out)
		}
	}
	return addr
}

// Machines creates a switch and n hosts attached to it as eth0, and
// returns the switch, the hosts and their addresses (in order: .1, .2, ...).
func Machines(t testing.TB, n int) (*Switch, []*Host, []netip.Addr) {
	t.Helper()
	s := NewSwitch(t)
	hosts := make([]*Host, n)
	addrs := make([]netip.Addr, n)
	for i := range hosts {
		hosts[i] = HostNS(t)
		addrs[i] = s.Attach(t, hosts[i], "eth0")
	}
	return s, hosts, addrs
}

func (s *Switch) ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := s.Host.Command(context.Background(), "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("nettest: ip %v in switch %s: %v: %s", args, s.Host.Name, err, out)
	}
}

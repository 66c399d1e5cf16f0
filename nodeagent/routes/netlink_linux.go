package routes

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetlinkTable is the real Table: routes in the main routing table of one
// network namespace, marked with Protocol, programmed over rtnetlink.
type NetlinkTable struct {
	h     *netlink.Handle
	proto netlink.RouteProtocol
}

var _ Table = (*NetlinkTable)(nil)

// NewNetlinkTable returns a NetlinkTable for the network namespace at
// netnsPath (e.g. /run/netns/NAME), or the caller's when netnsPath is "".
// Close it when done.
func NewNetlinkTable(netnsPath string) (*NetlinkTable, error) {
	var h *netlink.Handle
	var err error
	if netnsPath == "" {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		var ns netns.NsHandle
		ns, err = netns.GetFromPath(netnsPath)
		if err != nil {
			return nil, fmt.Errorf("routes: open network namespace %s: %w", netnsPath, err)
		}
		defer ns.Close()
		h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("routes: open a netlink socket: %w", err)
	}
	return &NetlinkTable{h: h, proto: Protocol}, nil
}

// Close releases the netlink socket.
func (t *NetlinkTable) Close() { t.h.Close() }

// List implements Table: a dump of the main table filtered by protocol.
func (t *NetlinkTable) List() ([]Route, error) {
	var out []Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := t.h.RouteListFiltered(fam, &netlink.Route{Protocol: t.proto, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("routes: list routes of protocol %d: %w", t.proto, err)
		}
		for _, r := range rs {
			if r.Protocol != t.proto || r.Dst == nil {
				continue
			}
			dst, ok := prefixOf(r.Dst)
			if !ok {
				continue
			}
			via, _ := netip.AddrFromSlice(r.Gw)
			out = append(out, Route{Dst: dst, Via: via.Unmap()})
		}
	}
	return out, nil
}

// Replace implements Table (RTM_NEWROUTE with NLM_F_REPLACE).
func (t *NetlinkTable) Replace(r Route) error {
	if err := t.h.RouteReplace(t.route(r)); err != nil {
		return fmt.Errorf("routes: replace route %s: %w", r, err)
	}
	return nil
}

// Delete implements Table; only a route with the mark is deleted.
func (t *NetlinkTable) Delete(r Route) error {
	err := t.h.RouteDel(&netlink.Route{Dst: ipNet(r.Dst), Protocol: t.proto, Table: unix.RT_TABLE_MAIN})
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("routes: delete route %s: %w", r, err)
	}
	return nil
}

func (t *NetlinkTable) route(r Route) *netlink.Route {
	return &netlink.Route{
		Dst:      ipNet(r.Dst),
		Gw:       net.IP(r.Via.AsSlice()),
		Protocol: t.proto,
		Table:    unix.RT_TABLE_MAIN,
		Scope:    netlink.SCOPE_UNIVERSE,
	}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	a = a.Unmap()
	return netip.PrefixFrom(a, ones).Masked(), true
}

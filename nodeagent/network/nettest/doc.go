// Package nettest gives root-needing tests a network namespace acting as a
// node's host namespace, and blackhole routes in the machine's own
// namespace for the CIDRs they use, so that no test packet leaves the
// machine. Everything it creates is removed when the test ends.
//
// Two ways to put the code under test in the host namespace:
//
//   - Main, from TestMain: the whole test binary is re-executed under
//     nsenter --net inside a fresh namespace. Use it when the code under test
//     starts goroutines that create sockets or run CNI/iptables (an agent).
//   - HostNS + Host.Run: only the calling goroutine's OS thread enters the
//     namespace for the duration of fn; processes it execs (CNI plugins,
//     iptables) inherit it because os/exec forks on the calling thread.
//
// Example:
//
//	func TestPods(t *testing.T) {
//		testenv.E2E(t, testenv.Root(), testenv.Binary("ip"), testenv.Binary("nsenter"))
//		host := nettest.HostNS(t)
//		cidr := nettest.CIDR(t, 24) // e.g. "10.201.7.0/24", blackholed in the root namespace
//		host.Run(t, func() {
//			// network.New(...).Setup(...) here: the bridge and veths appear in host
//		})
//		_ = nettest.Do(podNetNSPath, func() error { ln, err = net.Listen("tcp", podIP+":8080"); return err })
//	}
//
// For several machines on one L2 segment (a cluster test), Machines (or
// NewSwitch and Switch.Attach) creates a "switch" namespace holding a bridge
// and joins each machine's namespace to it through a veth pair, with an
// address from a /24 reserved (and blackholed) with CIDR and a default route
// to the switch, which forwards nothing:
//
//	sw, hosts, addrs := nettest.Machines(t, 3) // eth0 = .1, .2, .3 of sw.Prefix
//	cmd := hosts[1].Command(ctx, "bosun", "agent", "--node-ip", addrs[1].String(), ...)
//
// Namespaces are named bosun-test-<hex> (ip netns list); after a killed test
// run, ip netns delete removes leftovers.
package nettest

// Package check verifies that a machine can run bosun before it is
// installed: kernel version, cgroups, overlayfs, netfilter, br_netfilter,
// IP forwarding, containerd, runc and CNI plugins, free ports, root and free
// disk. Each check gives a Result (ok, warn or fail) that says what to fix.
//
// Checks read the machine through a Host, whose paths are under Root and
// whose programs, ports, user and disk are functions, so tests run them
// against a fake tree in a temporary directory:
//
//	results := check.Run(ctx, check.RealHost(), check.Options{DataDir: "/var/lib/bosun"})
//	check.Print(os.Stdout, results)
//	if check.Failed(results) {
//		os.Exit(1)
//	}
package check

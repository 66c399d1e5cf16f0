// Package network gives each pod its own network namespace and connects it
// to the node's bridge with CNI (libcni and the standard plugins).
//
// A pod's namespace is a file, Dir/netns/<id>, onto which a new network
// namespace is bind-mounted (as CRI does), so that it outlives any process
// and every container of the pod can join it by path (the OCI spec's network
// namespace). Setup runs two generated conflists on it: loopback (lo), then
// the pod network "bosun" — bridge (bosun0 by default; the gateway is the
// first address of the pod CIDR, with hairpin mode so a pod can reach
// itself through a Service, and without masquerading: package routes
// masquerades only traffic leaving the cluster, so pod-to-pod traffic
// across nodes keeps its source address), host-local IPAM from the node's
// pod CIDR, and portmap for hostPort (only for pods that have host ports).
//
// There is no fallback range: a node's network exists only once the
// control plane assigned the node its pod CIDR (Lazy fails with
// ErrNoPodCIDR until then), and pod CIDRs of nodes never overlap, so no
// two pods in the cluster share an address.
// Teardown runs CNI DEL with the conflist and arguments libcni cached at
// ADD time, which releases the IP and removes the veth and iptables rules,
// then unmounts and removes the namespace file. Both are idempotent, and the
// state lives on disk (namespace files, libcni's cache in Dir/cni-cache,
// host-local's reservations in Dir/ipam), so a restarted agent finds its
// pods with List and Status and tears down the ones no pod owns.
//
// The bridge, veths and iptables rules are made in the network namespace
// of the OS thread calling Setup and Teardown (the plugins are forked from
// it): the node's own namespace in production, a namespace made by
// nettest in tests.
//
// Example:
//
//	n, err := network.New(network.Config{Dir: "/var/lib/bosun/network", PodCIDR: "10.244.1.0/24", Logger: log})
//	if err != nil { ... }
//	att, err := n.Setup(ctx, sandboxID, pod.Namespace, pod.Name, []network.PortMapping{{HostPort: 8080, ContainerPort: 80}})
//	if err != nil { ... }
//	// containers join att.NetNSPath; att.IP is the pod IP
//	...
//	err = n.Teardown(ctx, sandboxID)
package network

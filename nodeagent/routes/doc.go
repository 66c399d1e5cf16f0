// Package routes is the node's host-gw pod network: it keeps, in the node's
// network namespace, one route per other node (that node's pod CIDR via its
// InternalIP) in step with the Node list, and the one iptables rule that
// masquerades pod traffic leaving the cluster.
//
// # Routes
//
// A Controller watches Nodes (an informer of package client/cache over the
// agent's client, as package proxy watches Services) and, after every
// change and every ResyncPeriod, converges the routing table
// level-triggered: it lists the routes it owns, adds the missing ones,
// replaces those whose next hop changed (a node's CIDR or InternalIP
// changed), and deletes those no Node wants any more (a node deleted or
// without a pod CIDR). Its own routes carry a mark, the routing protocol
// number Protocol ("proto 211" in ip route), and it never lists, changes or
// deletes a route without it. A node's own CIDR gets no route (it is on the
// node's bridge), nor do Nodes with this node's address. A next hop that is
// not on a directly connected network is refused by the kernel
// (ENETUNREACH): host-gw only works when every node is on one L2 segment;
// such a node is logged and skipped. A VXLAN mode for routed networks would
// keep this Controller and change only the Table: one vxlan device per
// node, a route per node's CIDR via that node's VTEP address with onlink,
// and a static ARP and FDB entry per node mapping the VTEP address to the
// node's InternalIP (what flannel's vxlan backend does).
//
// # Masquerading
//
// The CNI bridge does not masquerade (package network sets ipMasq false).
// The Masquerader keeps one rule in its own chain of the nat table
// (Chain, jumped to from POSTROUTING): traffic from this node's pod CIDR to
// a destination outside the cluster CIDR is masqueraded; pod-to-pod traffic
// across nodes keeps the source pod IP. The chain is named outside the
// "BOSUN-" prefix that package proxy owns (its resync deletes any BOSUN-
// chain it did not make).
//
// # Readiness
//
// NetworkReady reports whether the routes are programmed for the current
// Node list; the node agent (package nodeagent, Config.Network) reports
// NetworkUnavailable=True and Ready=False until it is, so that no pod is
// scheduled to a node whose network cannot carry it.
//
// # Why netlink
//
// NetlinkTable speaks rtnetlink through github.com/vishvananda/netlink
// rather than exec'ing ip route: a sync is one dump filtered in the kernel
// by protocol and table, plus one request per change, with no process per
// route; errors come back as errno values (ENETUNREACH, ESRCH) the
// Controller can tell apart without parsing text; and a Handle can be bound
// to another network namespace, which the tests use. iptables stays with
// go-iptables, as in package proxy.
//
// Cleanup (bosun agent --cleanup, package nodeagent/cleanup) deletes every
// marked route and the masquerade chain.
//
// Example:
//
//	table, err := routes.NewNetlinkTable("") // the agent's own namespace
//	if err != nil { ... }
//	masq, err := routes.NewIPTablesMasquerade("")
//	if err != nil { ... }
//	c, err := routes.New(routes.Config{NodeName: "n1", Client: c, Table: table,
//		Masquerade: masq, ClusterCIDR: "10.244.0.0/16", Logger: log})
//	if err != nil { ... }
//	go c.Run(ctx)
//	err = c.NetworkReady() // nil once routes are programmed for the current Node list
package routes

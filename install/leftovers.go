package install

import "net/netip"

// LeftoverConfig says where to look for what bosun may have left behind.
type LeftoverConfig struct {
	// DataDir is the data directory (with Root): no mount under it and no
	// process using it may remain.
	DataDir string
	// Bridges are the pod bridges that must be gone (bosun0, and cni0 of
	// CNI's defaults).
	Bridges []string
	// CIDRs are the pod and Service ranges: no route to them may remain
	// except blackhole routes (a safety net someone else added).
	CIDRs []netip.Prefix
	// RouteProtocol marks the routes bosun adds (routes.Protocol).
	RouteProtocol int
	// Chains is the prefix of bosun's iptables chains ("BOSUN").
	Chains string
	// NFTable is bosun's nftables table in the ip family ("bosun").
	NFTable string
}

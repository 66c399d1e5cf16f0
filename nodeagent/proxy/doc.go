// Package proxy is bosun's service proxy, kube-proxy's job: it watches
// Services and Endpoints through bosun's API and programs the kernel so that
// a Service's cluster IP and node ports reach its ready endpoints. It has
// kube-proxy's two Linux modes (Config.Mode, `bosun agent --proxy-mode`):
// nftables, the default wherever the nft program runs and the kernel accepts
// bosun's table, and iptables.
//
// Both modes give the same behaviour, checked by one conformance suite run
// against each (e2e_linux_test.go): traffic is balanced at random over
// ready endpoints only (Endpoints subsets[].addresses, never
// notReadyAddresses); sessionAffinity ClientIP keeps a client on one
// endpoint for timeoutSeconds (default 10800); a pod reaching itself through
// its Service is masqueraded (hairpin); with Config.ClusterCIDR set, traffic
// to a cluster IP from outside the pod network is masqueraded; node ports
// answer on Config.NodeIPs or every local address (nftables mode: but
// loopback, as kube-proxy's nftables mode); a service port without a ready
// endpoint rejects new connections at once (ICMP port unreachable) instead
// of letting them hang. Headless and ExternalName Services get no rules.
// Packets marked 0x4000 are masqueraded on their way out. With
// Config.ServiceCIDRs set, a Service whose cluster IP lies outside them
// (8.8.8.8, say) gets no rules either, node ports included: one log line
// names it and the gauge bosun_proxy_services_outside_service_cidr counts
// it. Validation refuses such Services; this is defence in depth, so that
// one reaching the store anyway cannot capture traffic meant for an
// outside address.
//
// # nftables mode
//
// Everything lives in one table of bosun's own, "ip bosun" (NFTablesTable);
// nothing outside it is touched. Base chains hook nat prerouting and output
// (priority -100), nat postrouting (srcnat) and filter input, forward and
// output. Chain "services" looks the destination up in the verdict map
// service-ips (cluster IP . protocol . port -> goto the service port's
// chain) and sends local destinations on to "nodeports", which looks up
// service-nodeports (protocol . node port -> goto an external-* chain that
// marks for masquerading and goes to the service chain). One lookup finds a
// Service whatever the number of Services, where iptables walks a rule per
// service port. A service-* chain picks an endpoint and DNATs to it in one
// rule per endpoint: rule i of n DNATs with "numgen random mod (n-i) == 0",
// the last one always. With ClientIP affinity, the service chain instead
// sends known clients to an endpoint-* chain per endpoint (a lookup in that
// endpoint's timed set, affinity-*) and balances the others over those
// chains the same way; they add the client to their set and DNAT. Hairpin
// traffic is found in nat postrouting, after the DNAT, by the set "hairpin"
// of endpoint IP . endpoint IP pairs. The filter chains look new
// connections up in no-endpoint-services and no-endpoint-nodeports, whose
// elements go to a chain that rejects.
//
// A sync computes the whole table (buildNFT) and compares it with what the
// last successful sync wrote: one nft transaction then adds new sets and
// chains, flushes and rewrites changed chains, deletes and adds the map and
// set elements that changed, and deletes what is no longer wanted once
// nothing refers to it. Services whose objects did not change are not
// computed again. A full resync lists the table's names, then in one
// transaction writes what is missing and deletes everything it does not
// want: the first sync and the one after a failure flush and refill every
// chain, map and set; the periodic one (every SyncPeriod) the fixed chains,
// the maps and the chains that are missing or changed (hand edits of those
// are repaired), and only the hairpin elements that changed: rewriting every
// service chain each period would cost seconds of kernel time at 5,000
// Services. Affinity sets keep their
// clients. If even that fails, the table is deleted and written whole in one
// transaction.
//
// The nft program (through sigs.k8s.io/knftables, the library kube-proxy's
// nftables mode uses) was picked over netlink (github.com/google/nftables)
// after measuring both (BenchmarkNFTablesClient, BENCHMARKS.md): netlink
// changes one map element about 6x faster (3 ms against 20 ms with 1,000
// Services in the table), because nft first loads the table's chains and
// sets, but rules written as nft text are what
// administrators read in "nft list table ip bosun" and what knftables' Fake
// checks in the unit tests, and the whole sync stays one readable
// transaction. Per-endpoint chains only where affinity needs them keep what
// nft loads small, and choosing an endpoint with one numgen match per rule
// (probability 1/(n-i), as iptables' statistic match) rather than a map per
// Service avoids anonymous sets, which the kernel creates and deletes in
// time growing with their number. The table's names are listed through
// netlink (NewNFTables' Interface), not "nft --json list table", which
// dumps every rule. The figures at 1,000 and 5,000 Services, next to iptables
// mode's, are in BENCHMARKS.md (BenchmarkScale).
//
// # iptables mode
//
// In the nat table, BOSUN-SERVICES (jumped to from PREROUTING and OUTPUT)
// matches each cluster IP:port and jumps to a BOSUN-SVC-<hash> chain per
// service port, which picks one BOSUN-SEP-<hash> chain per ready endpoint
// with "-m statistic --mode random --probability 1/(n-i)" (formatted %0.10f,
// as kube-proxy). A SEP chain DNATs to the endpoint and marks traffic coming
// from the endpoint itself for masquerading (hairpin: a pod reaching itself
// through its Service). With Config.ClusterCIDR set, traffic to a cluster IP
// from outside the pod network is marked too. sessionAffinity ClientIP adds
// "-m recent --rcheck --seconds <timeoutSeconds, default 10800> --reap" rules
// before the random choice and "--set" in the SEP chains. The last rule of
// BOSUN-SERVICES sends traffic to local addresses (or to Config.NodeIPs) to
// BOSUN-NODEPORTS, which marks and forwards node ports to the SVC chains.
// BOSUN-POSTROUTING masquerades marked packets (mark 0x4000, set by
// BOSUN-MARK-MASQ). Only ready addresses (Endpoints subsets[].addresses,
// never notReadyAddresses) receive traffic. A service port without a ready
// endpoint gets a REJECT (icmp-port-unreachable) in the filter table's
// BOSUN-SERVICES (from OUTPUT and FORWARD) and, for node ports,
// BOSUN-EXTERNAL-SERVICES (from INPUT and FORWARD), so connections fail at
// once instead of hanging. Headless and ExternalName Services get no rules.
// Every rule carries a comment naming "namespace/service:port".
//
// # Syncing in iptables mode
//
// A sync computes the whole content of bosun's chains from the current
// Services and Endpoints and applies it with one "iptables-restore --noflush"
// per table: only chains whose rules changed since the last successful sync
// are declared (flushed) and rewritten, chains no longer wanted are declared
// and deleted (-X), other chains are never touched. Changes are coalesced: at
// most one sync per Config.MinSyncPeriod (default 100 ms), in both modes. A
// full resync every Config.SyncPeriod (default 30 s), and after any failure,
// rewrites every bosun chain, deletes stale bosun chains found in the tables,
// and ensures the jump rules from the built-in chains with go-iptables, so
// rules flushed by hand come back. Cleanup removes every bosun chain and jump
// rule (bosun agent --cleanup).
//
// The iptables-nft backend (Debian's default) is slow with --noflush on large
// rule sets (BenchmarkScale in BENCHMARKS.md): use nftables mode there. The
// rules themselves work with either backend.
//
// # Switching modes
//
// The first successful sync of either mode removes the other mode's rules
// (when the Proxier has both interfaces: by default, or when both are
// given), so that restarting an agent with another --proxy-mode leaves
// nothing behind; Cleanup removes both.
//
// # Service environment variables
//
// ServiceEnv gives the {NAME}_SERVICE_HOST/_PORT and Docker-link variables a
// pod gets for the Services that existed when it started, as kubelet does.
//
// # Example
//
//	p, err := proxy.New(proxy.Config{Client: c, Logger: log, ClusterCIDR: "10.244.0.0/16"})
//	if err != nil {
//		return err
//	}
//	return p.Run(ctx) // blocks until ctx ends; p.Cleanup(ctx) removes the rules
//
// With Client set and neither IPTables nor NFTables, the Proxier programs
// this network namespace in the default mode; give NewNFTables(path) or
// NewExec(path) to program another namespace.
package proxy

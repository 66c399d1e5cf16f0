// Package proxy is bosun's service proxy, kube-proxy's iptables mode: it
// watches Services and Endpoints through bosun's API and programs the nat
// and filter tables so that a Service's cluster IP and node ports reach its
// ready endpoints.
//
// # Rules
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
// # Syncing
//
// A sync computes the whole content of bosun's chains from the current
// Services and Endpoints and applies it with one "iptables-restore --noflush"
// per table: only chains whose rules changed since the last successful sync
// are declared (flushed) and rewritten, chains no longer wanted are declared
// and deleted (-X), other chains are never touched. Changes are coalesced:
// at most one sync per Config.MinSyncPeriod (default 100 ms). A full resync
// every Config.SyncPeriod (default 30 s), and after any failure, rewrites
// every bosun chain, deletes stale bosun chains found in the tables, and
// ensures the jump rules from the built-in chains with go-iptables, so rules
// flushed by hand come back. Cleanup removes every bosun chain and jump rule
// (bosun agent --cleanup).
//
// The iptables-nft backend (Debian's default) is slow with --noflush on large
// rule sets (see the BenchmarkScale figures in the report); the rules
// themselves work with either backend.
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
package proxy

// Package dns is the node agent's DNS server for its pods, and the
// resolv.conf those pods get: Service names of the cluster domain answered
// from the agent's watch cache, every other name forwarded to the host's
// resolvers.
//
// # Names
//
// With the cluster domain cluster.local (Config.Domain), as the Kubernetes
// DNS specification and CoreDNS's kubernetes plugin name them:
//
//	web.prod.svc.cluster.local               A/AAAA: the Service's cluster IPs;
//	                                         a headless Service (clusterIP: None): its ready endpoints' IPs;
//	                                         an ExternalName Service: a CNAME, followed
//	_http._tcp.web.prod.svc.cluster.local    SRV: the port named http (TCP), target the Service's name,
//	                                         or each ready endpoint's name for a headless Service
//	web-0.web.prod.svc.cluster.local         A/AAAA of a headless Service's endpoint, by its hostname
//	                                         (a pod's spec.hostname with spec.subdomain: web) or dashed IP
//	10-42-1-7.prod.pod.cluster.local         A: the address the name spells (CoreDNS's "pods insecure",
//	                                         Kubernetes' default), whether or not a pod has it
//	10.0.96.10.in-addr.arpa                  PTR: the Service of a cluster IP, the endpoint name of a
//	                                         headless Service's ready address (with a ReverseLister);
//	                                         any other reverse name is forwarded
//
// Any other name in the cluster domain is NXDOMAIN; a name that exists
// without records of the type asked is NODATA; both carry the zone's SOA,
// whose minimum is the records' TTL (Config.TTL, 5 s). Until the cache has
// listed Services and Endpoints once, cluster names get SERVFAIL rather
// than a wrong NXDOMAIN. Names outside the cluster domain are forwarded to
// Config.Upstreams in order, over the transport the client used.
//
// Answers come from a Lister, never from the API per query: APISource
// keeps Services and Endpoints in two client/cache informers (the Service
// proxy's pattern), so a query costs a map lookup. Over UDP an answer is cut
// to the client's EDNS0 size (512 bytes without EDNS0, at most 1232) with
// the TC bit, and the client asks again over TCP, which Run serves on the
// same address.
//
// # Pods' resolv.conf
//
// PodConfigurer.PodDNS computes a pod's resolv.conf from its dnsPolicy and
// dnsConfig as kubelet does (ClusterFirst: this server, search
// <ns>.svc.<domain> svc.<domain> <domain> and the host's, ndots:5;
// Default: the host's; None: dnsConfig only; ClusterFirst on hostNetwork
// acts as Default, ClusterFirstWithHostNet as ClusterFirst); the agent
// passes it to the runtime in runtime.SandboxConfig.DNS.
//
// # Why miekg/dns and not CoreDNS as a library
//
// The server answers a fixed, small set of names from a cache the agent
// already keeps, and forwards the rest. github.com/miekg/dns (v1.1.73) is
// the DNS library CoreDNS itself is built on: message packing, EDNS0,
// truncation, UDP and TCP servers and a client, and nothing else. CoreDNS as
// a library brings its plugin chain, Corefile parsing (caddy), its own
// client-go informers over the Kubernetes API (a second watch of every
// Service and EndpointSlice, which bosun's API would have to serve exactly
// as kube-apiserver does) and its metrics: tens of dependencies and
// megabytes for the dozen branches in records.go. Answering from bosun's
// own cache keeps one watch per agent, and the benchmark
// (BenchmarkServerUDP) shows the plain library meets the target.
//
// # Usage
//
//	src, _ := dns.NewAPISource(c, log)
//	srv, err := dns.New(dns.Config{
//		Addr:      "10.0.0.5:53", // the node's address, reachable from its pods
//		Domain:    "cluster.local",
//		Lister:    src,
//		Upstreams: host.Upstreams("10.0.0.5"), // host, _ := dns.ReadResolvConf("/etc/resolv.conf")
//		Clients:   []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("127.0.0.0/8")},
//		Logger:    log,
//	})
//	g.Go(func() error { return src.Run(ctx) })
//	g.Go(func() error { return srv.Run(ctx) })
package dns

// Package serviceip is bosun's service address allocator: it gives every
// Service a cluster IP from the service CIDR and every port of a NodePort or
// LoadBalancer Service a node port, as kube-apiserver's allocators do.
//
// # Where allocations live
//
// An allocation is stored in the Service itself (spec.clusterIP and
// spec.clusterIPs, spec.ports[].nodePort), written by this controller with
// compare-and-swap: the one spec write DESIGN.md allows a controller. Sync
// keeps these fields when the manifest leaves them empty (package
// sync/apply), so they survive later commits. On start the controller
// rebuilds its state from the Services' specs, oldest Service first, so
// addresses are stable across restarts and, when two Services name the same
// address, the older one keeps it every time.
//
// # Rules
//
//   - spec.clusterIP empty: the next free address of the CIDR is allocated,
//     skipping the network address, the broadcast address and the first
//     address (reserved for a "kubernetes" Service, as in Kubernetes).
//   - spec.clusterIP set: honoured when inside the CIDR and free. When another
//     Service holds it, or it lies outside the CIDR, nothing is allocated: the
//     Service keeps what its manifest says, and a Warning Event (reason
//     ClusterIPAlreadyAllocated or ClusterIPOutOfRange) plus a log line say why.
//     Kubernetes would refuse such an object. When the holder goes away, the
//     waiting Service gets the address.
//   - spec.clusterIP "None" (headless) and ExternalName Services get no address.
//   - NodePort and LoadBalancer Services: every port with nodePort 0 gets the
//     next free port of the node port range (default 30000-32767); a port the
//     manifest names is honoured when in range and free, else reported like a
//     cluster IP (NodePortAlreadyAllocated, NodePortOutOfRange). Two Services
//     of one commit naming the same node port are already refused by
//     validation (package manifests); this covers conflicts across commits.
//     Other Service types have their node ports cleared, as in Kubernetes.
//
// Only IPv4 service CIDRs are supported.
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	_, cidr, _ := net.ParseCIDR("10.96.0.0/16")
//	ips, err := serviceip.New(serviceip.Config{Writer: s, Getter: s, Informers: informers, Logger: log, ServiceCIDR: cidr})
//	if err != nil {
//		return err
//	}
//	informers.Start(ctx)
//	return ips.Run(ctx) // blocks until ctx ends
package serviceip

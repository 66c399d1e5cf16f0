// Package endpoints is bosun's endpoints controller: for every Service with a
// selector (headless ones included) it keeps an Endpoints object of the same
// namespace and name listing the addresses of the pods the Service selects, as
// Kubernetes' pkg/controller/endpoint does, and the Service's
// discovery.k8s.io/v1 EndpointSlices, as pkg/controller/endpointslice does.
//
// # What goes into an Endpoints
//
// A pod is listed when it has an IP (status.podIP), has not finished (phase not
// Succeeded or Failed) and is not terminating (a terminating pod is kept only
// when the Service publishes not-ready addresses, as in Kubernetes). A pod whose
// Ready condition is True goes to a subset's addresses, any other to its
// notReadyAddresses; spec.publishNotReadyAddresses (or the legacy annotation
// service.alpha.kubernetes.io/tolerate-unready-endpoints: "true") puts every pod
// in addresses. An address carries the pod IP, nodeName, the pod's hostname when
// its subdomain names the Service, and a targetRef (kind Pod, namespace, name,
// uid). Like Kubernetes since v1.22 the targetRef carries no resourceVersion:
// that would rewrite the Endpoints on every pod status write.
//
// Every Service port becomes an Endpoints port whose number is the targetPort
// resolved per pod: a number as it is (0 = the Service port), a name looked up
// among that pod's container ports with the same protocol. A pod lacking the
// name is left out of that port, so pods are grouped into subsets by the set of
// ports they serve, as Kubernetes' RepackSubsets does; a pod serving none of the
// Service's ports is not listed. Ports, addresses and subsets are sorted, so the
// same pods always give the same object.
//
// # Ownership
//
// The controller marks each Endpoints it writes with a controller
// ownerReference to its Service (apiVersion v1, kind Service, name, uid). When a
// Service is deleted, only an Endpoints carrying such a reference to a Service of
// its name is deleted (the garbage collector would also cascade through it);
// Endpoints of Services without a selector are never touched (they are the
// user's), nor are Endpoints written from Git (label
// app.kubernetes.io/managed-by: bosun). The Service's labels are copied onto its
// Endpoints, except that managed-by label, so that sync never prunes them.
//
// Writes happen only when labels, owner or subsets (compared in canonical
// order) differ, always with compare-and-swap; a conflict requeues the Service.
//
// # EndpointSlices
//
// When the API serves discovery.k8s.io/v1 EndpointSlices (the resource is in
// api.Resources), the same Reconcile also writes them from the same subsets
// (EndpointSlices): one slice per address family and port set, up to
// MaxEndpointsPerSlice (100) endpoints each, ready addresses with conditions
// ready and serving, not-ready ones with neither; a Service without endpoints
// gets one empty placeholder slice. Slice names are <service>-<hash> of the
// family, ports and chunk, so a reconcile compares desired and current by name
// and creates, updates or deletes only what differs. Each slice carries the
// Endpoints' labels plus kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io, and
// a controller ownerReference to the Service. Only slices with that
// managed-by value are changed or deleted (when the Service goes away or
// loses its selector); others, mirrored or the user's, are left alone.
//
// Pod events enqueue the Services of the pod's namespace whose selector
// matches the pod's old or new labels, and only when something an Endpoints
// shows changed (IP, node, readiness, phase, deletion, labels, ports).
//
// # Example
//
//	informers := cache.NewInformers(s, log)
//	ep := endpoints.New(endpoints.Config{Writer: s, Informers: informers, Logger: log, Workers: 4})
//	informers.Start(ctx)
//	return ep.Run(ctx) // blocks until ctx ends
package endpoints

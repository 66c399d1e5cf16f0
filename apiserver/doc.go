// Package apiserver serves bosun's HTTP API: the objects of the store at
// kube-apiserver's paths, so that `bosun get` and a stock kubectl can read
// the cluster, plus health checks, the sync status and history, and the Git
// webhook.
//
// # Paths
//
//	GET  /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}, /version   discovery (metav1 types)
//	GET  /api/v1/namespaces/{ns}/{resource}[/{name}]                              list / get (also /apis/{group}/{version}/...)
//	GET  /api/v1/{resource}                                                       list across namespaces, or of a cluster-scoped resource
//	GET  /api/v1/{resource}/{name}                                                get a cluster-scoped object (namespaces, nodes)
//	GET  ...?watch=true                                                           watch: newline-delimited {"type","object"} events
//	POST .../{resource}; PUT, DELETE .../{name}; PUT .../{name}/status            writes (see below)
//	GET  /healthz, /livez, /readyz                                                health ("ok"; /readyz runs Config.Ready)
//	GET  /bosun/v1/status                                                         state.Status JSON
//	GET  /bosun/v1/history?limit=N                                                []state.Attempt JSON, newest first (0 or absent = all)
//	POST /hooks/git                                                               Config.Hooks, when set
//	GET  /api/v1/namespaces/{ns}/pods/{name}/log?container=&follow=&previous=&timestamps=&tailLines=   a container's log, from its node's agent
//	POST /api/v1/namespaces/{ns}/pods/{name}/exec?container=&command=...&stdin=true                    run a command in a container (see below)
//
// Lists carry kind "<Kind>List", the store revision as
// metadata.resourceVersion, and items with apiVersion and kind. Query
// parameters: labelSelector (bad selector: 400), fieldSelector
// (metadata.name and metadata.namespace for every kind; pods also
// spec.nodeName, spec.restartPolicy, spec.schedulerName, status.phase and
// status.podIP, so a node agent watches `spec.nodeName=NODE` and a scheduler
// `spec.nodeName=`; nodes spec.unschedulable; another field: 400),
// resourceVersion (a list at that exact revision; 410 Expired when
// compacted). Watches: resourceVersion
// "" or "0" first sends every current object as ADDED, then the changes; N
// sends the changes after N; a compacted N gets one ERROR event holding a
// 410 Expired Status and the stream ends; timeoutSeconds ends the stream.
// A request whose Accept asks for a meta.k8s.io Table (kubectl's
// server-side printing) gets the columns of package client/printers.
//
// Errors are metav1.Status objects: api.ErrNotFound is 404 NotFound,
// ErrConflict 409 Conflict, ErrExists 409 AlreadyExists, ErrCompacted 410
// Expired; bad input is 400 BadRequest.
//
// # Who may write
//
// Objects synced from Git (label app.kubernetes.io/managed-by=bosun) are
// read-only here: PUT, PATCH and DELETE answer 405 with a message naming
// the file and line to change and the commit they came from. Creating an
// object that carries that label is 403: only sync writes them, straight
// to the store. Everything else (what controllers and node agents write:
// ReplicaSets of Deployments, Pods, Endpoints, Nodes, Leases, Events) may be
// created, replaced (PUT with metadata.resourceVersion: compare-and-swap, a
// stale one is 409) and deleted (optionally conditional on
// DeleteOptions.preconditions.resourceVersion). PUT .../status replaces only
// the status of any object, managed or not: controllers own the status of
// Git objects. PUT of a missing object is 404 (no upsert); PATCH is not
// supported. Bodies are JSON, decoded strictly
// (unknown or duplicate fields: 400), at most Config.MaxBodyBytes (3 MiB).
//
// Mirror pods (annotation kubernetes.io/config.mirror), which node agents
// create to show their static pods, cannot be changed here: PUT and PATCH
// answer 405 saying to edit the file in the node's --pod-manifest-path,
// and a PUT that adds the annotation to a pod is 403. Their status stays
// writable (the agent reports it) and they may be deleted, as in
// Kubernetes: deleting one does not stop the static pod, and its agent
// creates it again.
//
// # Logs and exec
//
// The log and exec subresources are proxied to the agent of the pod's node
// (package nodeagent/agentapi) at the Node's InternalIP and
// status.daemonEndpoints.kubeletEndpoint.port, through
// Config.AgentTransport, and its answer is streamed back as it comes
// (flushed after every read). container may be left out for a pod with one
// container; with several it is 400 "a container name must be specified
// for pod P, choose one of: [a b]", as kubectl says. A pod not scheduled
// yet is 400; a node not registered, without the port or unreachable is
// 503 ServiceUnavailable. Exec is bosun's own protocol, not kubectl's: a
// POST whose body is the command's stdin (stdin=true), read while the
// response streams stdout, stderr and the exit code as frames of package
// nodeagent/agentapi/execstream.
//
// # Sync status before the first sync
//
// /bosun/v1/status answers 200 with an empty status (no synced commit, no
// last attempt) and "message": "not synced yet" until sync records its first
// attempt; clients tell this case by Synced and LastAttempt being nil.
//
// # Usage
//
//	srv := apiserver.New(apiserver.Config{
//		Store:  st,
//		Logger: logger,
//		Hooks:  webhook,                                    // optional
//		Ready:  func(ctx context.Context) error { ... },     // optional
//	})
//	err := srv.Run(ctx, "127.0.0.1:6780", func(addr net.Addr) {
//		logger.Info("API ready", "address", addr.String())
//	}) // returns nil after ctx ends and open requests are done
//
// Tests serve srv.Handler() with net/http/httptest, or call Listen with
// "127.0.0.1:0" and then Serve.
package apiserver

// Package apiserver serves bosun's HTTP API: the objects of the store at
// kube-apiserver's paths, so that `bosun get` and a stock kubectl can read
// the cluster, plus health checks, the sync status and history, the Git
// webhook, and cluster membership (bootstrap tokens, joins, node
// certificates), over HTTPS with client certificates.
//
// # Paths
//
//	GET  /api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}, /version   discovery (metav1 types)
//	GET  /api/v1/namespaces/{ns}/{resource}[/{name}]                              list / get (also /apis/{group}/{version}/...)
//	GET  /api/v1/{resource}                                                       list across namespaces, or of a cluster-scoped resource
//	GET  /api/v1/{resource}/{name}                                                get a cluster-scoped object (namespaces, nodes)
//	GET  ...?watch=true                                                           watch: newline-delimited {"type","object"} events
//	POST .../{resource}; PUT, DELETE .../{name}; PUT .../{name}/status            writes (see below)
//	GET  .../{deployments,replicasets,replicationcontrollers}/{name}/scale         autoscaling/v1 Scale (PUT, PATCH: 403, see below)
//	POST /api/v1/namespaces/{ns}/pods/{name}/eviction                             policy/v1 Eviction: delete the pod within its PodDisruptionBudget
//	GET  /livez, /readyz, /healthz [?verbose&exclude=NAME]; /readyz/{check}       health checks as kube-apiserver's (see below)
//	GET  /bosun/v1/status                                                         state.Status JSON
//	GET  /bosun/v1/history?limit=N                                                []state.Attempt JSON, newest first (0 or absent = all)
//	POST /hooks/git                                                               Config.Hooks, when set
//	GET  /api/v1/namespaces/{ns}/pods/{name}/log?container=&follow=&previous=&timestamps=&tailLines=   a container's log, from its node's agent
//	POST /api/v1/namespaces/{ns}/pods/{name}/exec?container=&command=...&stdin=true                    run a command in a container (see below)
//	GET|POST /api/v1/namespaces/{ns}/pods/{name}/{exec,attach,portforward} (upgrade)                     kubectl exec, attach, port-forward, proxied to the agent
//	GET  /apis/metrics.k8s.io/v1beta1/{nodes[/{name}],pods,namespaces/{ns}/pods[/{name}]}              resource metrics for kubectl top (see below)
//	GET  /bosun/v1/cluster-info                                                   api.ClusterInfo: the cluster CA (anonymous)
//	POST /bosun/v1/join                                                           bearer bootstrap token + api.JoinRequest → api.CertificateResponse
//	POST /bosun/v1/control-plane/join                                             bearer server token + api.ServerJoinRequest → api.ServerJoinResponse
//	GET  /bosun/v1/servers                                                        []api.ServerInfo sorted by name (Config.Servers), any identity but anonymous
//	POST /bosun/v1/certificates                                                   api.RenewRequest → api.CertificateResponse, for the calling node
//	POST /bosun/v1/tokens; GET /bosun/v1/tokens; DELETE /bosun/v1/tokens/{id}     api.TokenRequest → 201 api.TokenResponse; {"items": [api.BootstrapToken]}; 200 Status Success
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
// server-side printing) gets the columns of package client/printers; so
// does a watch (kubectl get -w): each event's object is a Table of one row,
// the first with the column definitions.
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
// to the store. Git is the only way desired state gets in: the kinds sync
// manages (manifests.Supported: Pods, ReplicationControllers, Services,
// ConfigMaps, Secrets, Namespaces, ReplicaSets, Deployments,
// PodDisruptionBudgets) are never
// created, replaced or patched through the API by anyone but a node (403
// naming Git; controllers write their ReplicaSets and Pods straight to the
// store), while deleting one that is not from Git stays allowed (a stray, or
// a controller's pod, which it replaces). Node identities are held to the
// node rules instead (their pods' status, their mirror pods); a mirror pod
// sent over a plain-HTTP listener passes too, for a development server's
// agents. Everything else (Nodes, Leases, Endpoints, Events) may be
// created, replaced (PUT with metadata.resourceVersion: compare-and-swap, a
// stale one is 409) and deleted (optionally conditional on
// DeleteOptions.preconditions.resourceVersion). PUT .../status replaces only
// the status of any object, managed or not: controllers own the status of
// Git objects. PUT of a missing object is 404 (no upsert). PATCH takes a
// JSON merge patch, a JSON patch or a strategic merge patch (by
// Content-Type, as kube-apiserver; server-side apply is 415), applies it to
// the stored object and writes the result under the rules of PUT, retrying
// on a concurrent change unless the patch names a resourceVersion; this is
// what kubectl cordon, uncordon, label and patch send. Bodies are JSON,
// decoded strictly (unknown or duplicate fields: 400), at most
// Config.MaxBodyBytes (3 MiB).
//
// The scale subresource of Deployments, ReplicaSets and
// ReplicationControllers answers GET with an autoscaling/v1 Scale
// (spec.replicas, status.replicas, status.selector as a string); PUT and
// PATCH are 403: replicas are desired state. For an object from Git the
// message is the one of its other writes (file, line, commit) plus the
// `bosun scale KIND/NAME -n NS --replicas=N` command that commits the
// change, so that `kubectl scale` fails saying what to do; for others it
// is the Git-only rule's. Discovery lists {resource}/scale (autoscaling/v1
// Scale) and pods/eviction (policy/v1 Eviction), as kubectl looks them up.
//
// # Evictions
//
// POST .../pods/{name}/eviction with a policy/v1 (or policy/v1beta1)
// Eviction whose metadata.name is the pod's (else 400) deletes the pod as
// kube-apiserver's eviction subresource does; only admins may (a node's is
// 403). A pod that is Pending, Succeeded, Failed or being deleted, or that
// no PodDisruptionBudget of its namespace selects, is deleted at once; two
// budgets selecting it are 500 ("This pod has more than one
// PodDisruptionBudget, ..."). With one budget: an unready pod is deleted
// without taking a disruption when the budget's
// unhealthyPodEvictionPolicy is AlwaysAllow or it is met without the pod
// (currentHealthy >= desiredHealthy > 0); otherwise the eviction takes a
// disruption: 429 TooManyRequests, "Cannot evict pod as it would violate
// the pod's disruption budget.", with a DisruptionBudget cause ("The
// disruption budget web needs 2 healthy pods and has 2 currently", or
// "... is still being processed by the server." with Retry-After: 10 while
// status.observedGeneration lags), when status.disruptionsAllowed is 0; 403 when it is negative or
// status.disruptedPods holds over 2000 pods. Else status.disruptionsAllowed
// is decremented (the DisruptionAllowed condition turns False at 0), the pod
// is recorded in status.disruptedPods, and the budget's status and the pod's
// deletion are written in one etcd transaction conditional on both
// resourceVersions read: of concurrent evictions racing for a budget's last
// disruption exactly one wins, the others decide again (up to 20 times)
// and get 429. The disruption controller (reconcile/disruption) recomputes
// the status from the pods afterwards. deleteOptions.preconditions (uid,
// resourceVersion) are honoured (409 when stale, not retried) and dryRun
// checks everything but writes nothing. Success is 201 with a Success
// Status; a missing pod is 404 (kubectl drain takes it as done). A pod from
// Git is not evicted (405, as its deletion). Each eviction is logged with
// the pod, the budget and the user.
//
// Mirror pods (annotation kubernetes.io/config.mirror), which node agents
// create to show their static pods, cannot be changed here: PUT and PATCH
// answer 405 saying to edit the file in the node's --pod-manifest-path,
// and a PUT that adds the annotation to a pod is 403. Their status stays
// writable (the agent reports it) and they may be deleted, as in
// Kubernetes: deleting one does not stop the static pod, and its agent
// creates it again.
//
// # Who is asking (authentication)
//
// ServeTLS and RunTLS serve HTTPS with Config.GetCertificate (read at each
// handshake, so a renewed serving certificate is used at once) and ask for
// a client certificate verified against the cluster CA
// (tls.VerifyClientCertIfGiven; a certificate of another CA fails the
// handshake). The request's identity is the certificate's Common Name
// (user) and Organizations (groups), as kube-apiserver reads them; without
// a certificate it is system:anonymous. Serve and Run serve plain HTTP,
// for development on loopback only (CheckLoopback): every request on them
// is admin's (admin, system:masters), and so is any request that did not
// come over TLS, such as the tests' httptest.NewServer(srv.Handler()).
// UserFrom reads the identity from a request's context; the debug log line
// of every request names it.
//
// # Health
//
// /livez runs the checks "ping" and "etcd" (a quorum read within
// Config.EtcdCheckTimeout) and Config.LiveChecks; /readyz runs those, then
// "sync" (Config.Ready) and Config.ReadyChecks; /healthz is /livez. Each
// answers "ok" (200) when every check passes; with ?verbose one line per
// check ("[+]etcd ok") and "readyz check passed". When a check fails the
// answer is 500 with every line ("[-]sync failed: reason") and "readyz
// check failed", as kube-apiserver answers (which withholds the reason;
// bosun prints it, since its checks' reasons name no secret). ?exclude=NAME
// (repeatable) skips a check; /readyz/NAME runs one ("ok", or 500
// "internal server error: reason"). A Component tracks a long-running
// part of the server for such a check.
//
// Anonymous requests get 401 Unauthorized (a Status) except GET /healthz,
// /livez, /readyz (and their single checks, /readyz/etcd), /version and /bosun/v1/cluster-info, POST
// /bosun/v1/join and /bosun/v1/control-plane/join (authenticated by their
// bootstrap token) and POST /hooks/git
// (authenticated by the webhook's own secret: forges have no client
// certificate).
//
// # What it may do (authorization)
//
// Members of system:masters may do everything. Every identity may read
// discovery, health and version. Node credentials (system:node:NAME in
// system:nodes) get what Kubernetes' node authorizer and NodeRestriction
// admission give a kubelet: read nodes, pods, services, endpoints and the
// leases in kube-node-lease; create, update and delete only their own Node
// (without setting labels under node-restriction.kubernetes.io/, its pod
// CIDR or, once created, its taints) and their own Lease;
// update the status of, and delete, pods bound to them; create only mirror
// pods (annotation kubernetes.io/config.mirror) bound to them, owned by
// nothing but their Node and using no Secret or ConfigMap; create and
// update Events; get, one by one, the Secrets and ConfigMaps a pod bound
// to them uses (volumes, projected volumes, env, envFrom, image pull
// secrets); POST /bosun/v1/certificates. Verbs and names are judged before
// the handler runs, objects' content (a create's name, a pod's node) in
// the write handlers. Everything else is 403 Forbidden with
// kube-apiserver's wording and the reason, e.g.
//
//	nodes "b" is forbidden: User "system:node:a" cannot update resource "nodes" in API group "" at the cluster scope: a node may only modify its own Node object
//
// Bosun's own paths (sync status and history, tokens, pprof) are for
// system:masters only.
//
// # Joining
//
// A join (POST /bosun/v1/join, "Authorization: Bearer ID.SECRET") is
// checked in this order, and nothing is written unless every check passes:
// the token (Config.Tokens Check: 401 with the token's error, e.g.
// "bootstrap token abcdef: expired at T"), the body and node name (400),
// the name not held by another machine (409 when the Node is Ready and its
// Lease was renewed within Config.NodeGracePeriod), the CSR signed by
// Config.Signer (400 for a CSR it refuses), and last the token's use (Use,
// a compare-and-swap: of joins racing for a last use one wins, the others
// get 401 "has no usages left" and their signed certificate is dropped).
// The server registers no Node: the agent does, with its new credential.
// Token responses carry Config.ServerURL (else https:// and the request's
// Host) and the CA's hash (CACertHash); a server token's also the
// cluster's repository (Repo), and one is made only where servers can join.
//
// A control-plane join (POST /bosun/v1/control-plane/join, a server token
// as bearer) makes the sender an etcd learner: 401 for a bad token, 403 for
// a node token, 400 for a name that is no DNS subdomain or URLs that are
// not https://HOST:PORT, 503 when Config.ControlPlane is nil or refuses
// (external etcd, no cluster member) or the cluster's settings are not
// stored yet, 409 for the name or peer URL of a running member or another
// member not started. A member not started at the same peer URL is a join
// retried after a crash: it is answered again, with no second add and no
// second use (a token whose last use that join took still completes it,
// through Tokens.Verify, but starts no new one). Otherwise store.AddLearner adds it, then the token's use is
// taken (a join that loses the last use removes its learner again). The
// answer carries the CA certificate and key (ControlPlane.CAKeyPEM), the
// members, the initial cluster and the cluster's settings.
//
// # Logs and exec
//
// The log and exec subresources are proxied to the agent of the pod's node
// (package nodeagent/agentapi) at the Node's InternalIP and
// status.daemonEndpoints.kubeletEndpoint.port, through
// Config.AgentTransport (https when that transport has a TLS client
// configuration, i.e. the API server's bosun:apiserver certificate and the
// cluster CA; Config.AgentScheme overrides), and its answer is streamed back as it comes
// (flushed after every read). container may be left out for a pod with one
// container; with several it is 400 "a container name must be specified
// for pod P, choose one of: [a b]", as kubectl says. A pod not scheduled
// yet is 400; a node not registered, without the port or unreachable is
// 503 ServiceUnavailable. `bosun exec` is bosun's own protocol: a POST
// whose body is the command's stdin (stdin=true), read while the response
// streams stdout, stderr and the exit code as frames of package
// nodeagent/agentapi/execstream.
//
// kubectl's exec, attach and portforward (an upgrade to WebSocket or
// SPDY, GET or POST) are proxied as upgrades: after authentication and
// authorization (admins; nodes are refused every subresource but status)
// the request goes to the agent's kubelet path (/exec/NS/POD/C with
// kubelet's input, output, error and tty parameters, /attach/NS/POD/C,
// /portForward/NS/POD) with the user's Authorization and Impersonate-*
// headers removed, and once the agent answers 101 bytes are relayed both
// ways until either side closes (net/http/httputil's ReverseProxy). The
// agent speaks the protocols (package nodeagent/agentapi). A request that
// is no upgrade is 400 "Upgrade request required".
//
// # Resource metrics (kubectl top)
//
// metrics.k8s.io/v1beta1 is served as metrics-server serves it
// (NodeMetrics, PodMetrics; get and list, with labelSelector and
// fieldSelector; other methods and watch 405), and appears in both
// discoveries, but nothing of it is stored: each request lists the Nodes
// (or the Pods, then their Nodes) that match, asks the agents of the Ready
// ones for their stats summary (GET /stats/summary, package
// nodeagent/agentapi) all at once through Config.AgentTransport, each
// within 5 s, and answers from what came back. As with metrics-server, a
// node whose agent does not answer, and its pods, are left out (kubectl
// shows the node as <unknown>); so is a pod with a container the agent has
// sampled only once (it has no CPU rate yet). Usage is the CPU rate in
// nanocores and the memory working set; timestamp is the agent's sample
// and window the time its CPU rate is averaged over (the agent's sample
// period, header Bosun-Stats-Window). A single object that has no metrics
// is 404 with metrics-server's message (podmetrics.metrics.k8s.io
// "ns/name" not found). Members of system:masters may read it, as every
// other resource.
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
//		Store:          st,
//		Logger:         logger,
//		Hooks:          webhook,                                // optional
//		Ready:          func(ctx context.Context) error { ... }, // optional
//		Signer:         caAdapter,                              // CACertPEM, SignNodeCSR
//		GetCertificate: serving.GetCertificate,                 // the current serving pair
//		ServerURL:      "https://10.0.0.1:6443",
//		AgentTransport: agentTransport,                         // bosun:apiserver client cert, RootCAs = cluster CA
//	})
//	err := srv.RunTLS(ctx, ":6443", func(addr net.Addr) {
//		logger.Info("API ready", "address", addr.String())
//	}) // returns nil after ctx ends and open requests are done
//
//	// Development only: plain HTTP, every request admin.
//	if err := apiserver.CheckLoopback(insecureAddr); err != nil { ... }
//	err = srv.Run(ctx, insecureAddr, nil)
//
// Tests serve srv.Handler() with net/http/httptest, or call Listen with
// "127.0.0.1:0" and then Serve.
package apiserver

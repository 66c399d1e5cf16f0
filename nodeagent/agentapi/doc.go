// Package agentapi is the node agent's own HTTP API, kubelet's port: the
// logs of the containers it runs, commands run in them, ports forwarded
// into pods, and the stats summary. The API server (package apiserver) proxies `bosun logs`,
// `bosun exec`, `kubectl exec` and `kubectl port-forward` to it, at the
// Node's InternalIP and status.daemonEndpoints.kubeletEndpoint.port.
//
// # Paths
//
//	GET  /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&timestamps=&tailLines=N
//	POST /exec/{namespace}/{pod}/{container}?command=CMD&command=ARG...&stdin=true
//	GET|POST /exec/{namespace}/{pod}/{container}?command=CMD...&input=1&output=1&error=1&tty=1  (upgrade)
//	GET|POST /portForward/{namespace}/{pod}  (upgrade)
//	GET|POST /attach/{namespace}/{pod}/{container}  (refused)
//	GET  /stats/summary
//	GET  /healthz
//
// /stats/summary is kubelet's stats summary (k8s.io/kubelet's
// stats/v1alpha1 Summary, JSON) from Config.Stats (package nodeagent/stats
// samples every 10 s; CPU is the rate between the last two samples): the
// node's CPU and memory and every running container's, by pod. The window
// of the CPU rates is in the Bosun-Stats-Window header (api.HeaderStatsWindow),
// since the summary has no field for it. The API server's metrics.k8s.io
// (kubectl top) reads it; 503 until the first sample, 501 without Stats.
//
// Logs are read from the container's CRI log file (LogLocator: the
// rotated part, path.1, first) and sent as plain text: the content of
// each line, with "<RFC 3339 time> " in front when timestamps=true (once
// per line: the pieces of a split "P" line are joined); tailLines=N sends
// the last N lines; previous=true the instance before the current one
// (the agent keeps the latest two). follow=true goes on sending lines as
// they are written, across rotations, polling every Config.PollInterval,
// until the container has exited and its file stayed unchanged for one
// more interval, or the client goes away.
//
// Exec runs the command in the container's current instance, which must
// be running, through the runtime's Exec (Execer): the request body is the
// command's stdin when stdin=true (read while the output is sent: a
// full-duplex HTTP/1.1 exchange), and the response body carries stdout,
// stderr and finally the exit code as frames of package
// agentapi/execstream. There is no terminal (tty=true is refused). This is
// bosun's own protocol (`bosun exec`); kubectl's follow.
//
// # kubectl's protocols
//
// An upgrade request on /exec speaks kubelet's protocols, as kubectl does
// through the API server (the paths and query parameters are kubelet's):
// WebSocket v5.channel.k8s.io (kubectl 1.30 and later: channels 0-4 are
// stdin, stdout, stderr, the status and terminal resizes; 255 closes
// stdin) and v4.channel.k8s.io, served here on
// k8s.io/streaming's wsstream; SPDY v4 to v1 (kubectl's fallback), served
// by k8s.io/cri-streaming's remotecommand. The last message on the status
// channel is a metav1.Status: Success, or reason NonZeroExitCode with the
// code as cause ExitCode, which kubectl exits with. With tty=1 the command
// gets a terminal (TerminalExecer resizes it; stderr is merged into it).
//
// /portForward speaks portforward.k8s.io: over SPDY (k8s.io/cri-streaming's
// portforward), and the same SPDY tunnelled in a WebSocket (subprotocol
// SPDY/3.1+portforward.k8s.io, kubectl 1.31 and later), which is unwrapped
// here and served as if the connection had been upgraded to SPDY. Each
// forwarded connection dials 127.0.0.1:PORT inside the network namespace
// of the pod's sandbox (SandboxDialer); a failed dial is reported on the
// stream's error stream, which kubectl prints.
//
// /attach is refused (400) with the reason: bosun starts containers
// without stdin and sends their output only to the log file.
//
// Errors before a stream starts are metav1.Status JSON with kubelet's
// messages ("container x is not valid for pod y", "previous terminated
// container ... not found"), which the API server passes on.
//
// # Security
//
// The API serves HTTPS with the certificate Config.GetCertificate returns
// (the node's, which the agent renews without a restart) and only on
// Config.Addresses: by default (Addresses) 127.0.0.1 and the node's
// InternalIP, on DefaultPort 10250. Every request, /healthz included, needs
// a client certificate signed by Config.ClientCAs (the cluster CA); its
// Common Name is the user and its Organizations the groups, as Kubernetes
// reads client certificates:
//
//   - no client certificate: 401, a metav1.Status with reason Unauthorized;
//   - a certificate from another CA: the TLS handshake fails;
//   - a user outside group system:masters (api.GroupMasters), e.g. a node's
//     own credential: 403, reason Forbidden, naming the user;
//   - the API server's credential (CN bosun:apiserver, group system:masters):
//     served.
//
// Config.Insecure serves plain HTTP without authentication; it exists only
// for tests whose API server proxies over plain HTTP.
//
// # Usage
//
//	srv, err := agentapi.New(agentapi.Config{
//		Addresses:      agentapi.Addresses(nodeIP, agentapi.DefaultPort),
//		Pods:           agent, // *nodeagent.Agent, created with Config.APIPort = agentapi.DefaultPort
//		Runtime:        rt,    // *containerd.Runtime: also the LogLocator, Execer, TerminalExecer and SandboxDialer
//		Logs:           rt,
//		Stats:          collector, // *stats.Collector on rt, its Run started
//		GetCertificate: nodeCreds.GetCertificate, // the node's current certificate
//		ClientCAs:      clusterCAPool,            // from <data-dir>/agent/pki/ca.crt
//		Logger:         logger,
//	})
//	if err != nil {
//		return err
//	}
//	return srv.Run(ctx) // until ctx ends
package agentapi
